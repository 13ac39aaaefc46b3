//! Switchboard connectors: Telegram, WhatsApp Cloud, VK and email — inbound normalisation and
//! verification, outbound delivery with rate limits, retries and status events.

pub mod email;
