"""The example site: sign in, connect a TikTok account, use it, disconnect."""
