"""Search (greedy, beam, forced prefix) and the translation service the front ends call."""
