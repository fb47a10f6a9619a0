"""The bundled example configs (examples/) and labs (labs/), installed as
vforward.configs and found through importlib.resources (vforward.bundled)."""
