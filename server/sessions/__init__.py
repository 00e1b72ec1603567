"""Sessions: one actor per loaded thread, the turn loop, and the thread methods built on them."""
