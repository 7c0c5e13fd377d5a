"""`make cluster`: the replicated topology on one machine (balancer, gateways, Rasa servers, action servers)."""
