"""Understanding what a resident wants: the dialogue engine's intent plus knowledge-base service matching."""
