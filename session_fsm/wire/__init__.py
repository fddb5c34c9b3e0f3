"""The stream's shape, not its meaning: typed events, the codec (wire names, string
booleans, timestamps, extras), the facts the engine reads straight from the wire, and the
reader of every input shape."""
