//! Switchboard connectors: Telegram, WhatsApp Cloud, VK and email — inbound normalisation and
//! verification, outbound delivery with rate limits, retries and status events.
//!
//! Empty until the connectors issue lands; the crate exists so that the dependency direction
//! (`schemas ← core ← connectors ← gateway`) is fixed from the start.
