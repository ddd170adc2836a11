"""The one-time import of the previous backend's data (`cookcam import supabase`)."""
