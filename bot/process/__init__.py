"""Process hygiene shared by the supervisor and the servers it starts: dying with the parent, who holds a port."""
