"""Views that read what the engine made and never change it: contact histories and
agent timelines with durations, and validation reports."""
