"""The one composition root: settings -> store, bus, adapters, agents."""
