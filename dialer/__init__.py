"""The worker side: the Huey queue, its tasks, telephony providers and the MTT sandbox."""
