//! F3.4: what one outbound message may carry. Text: at most 2000 characters not counting white
//! space. Attachments: one file, or up to 10 images; per-channel size limits and media types;
//! 500 MB in total.

use super::Refusal;
use switchboard_schemas::{Attachment, AttachmentKind, ChannelKind};

pub const MAX_TEXT_CHARS_WITHOUT_SPACES: usize = 2000;
pub const MAX_IMAGES: usize = 10;
pub const MAX_TOTAL_BYTES: u64 = 500 * MB;
const MB: u64 = 1024 * 1024;

/// Per-channel size limit of one attachment (image, audio, video, other), `None` = no channel limit.
pub fn channel_limit(channel: ChannelKind, kind: AttachmentKind) -> Option<u64> {
    use AttachmentKind::*;
    use ChannelKind::*;
    let mb = match (channel, kind) {
        (Telegram, Image) => 10,
        (Telegram, Audio | Voice | Video | File) => 50,
        (WhatsappCloud, Image) => 5,
        (WhatsappCloud, Audio | Voice | Video) => 16,
        (WhatsappCloud, File) => 100,
        (WhatsappQr, Image | Audio | Voice | Video) => 64,
        (WhatsappQr, File) => 100,
        (Vk, Image) => 50,
        (Vk, Audio | Voice) => 8,
        (Vk, File) => 200,
        (Facebook | Instagram, Image) => 8,
        (Facebook | Instagram, Audio | Voice | File) => 25,
        _ => return None,
    };
    Some(mb * MB)
}

/// The media types a channel takes for a kind of attachment (its provider's documented ones:
/// WhatsApp Cloud's images, audio and video), `None` = any.
pub fn channel_types(
    channel: ChannelKind,
    kind: AttachmentKind,
) -> Option<&'static [&'static str]> {
    use AttachmentKind::*;
    match (channel, kind) {
        (ChannelKind::WhatsappCloud, Image) => Some(&["image/jpeg", "image/png"]),
        (ChannelKind::WhatsappCloud, Video) => Some(&["video/mp4", "video/3gpp"]),
        (ChannelKind::WhatsappCloud, Audio | Voice) => Some(&[
            "audio/aac",
            "audio/amr",
            "audio/mpeg",
            "audio/mp4",
            "audio/ogg",
        ]),
        _ => None,
    }
}

/// Checks the text and attachments of an outbound message for `channel`.
pub fn check_outbound(
    channel: ChannelKind,
    text: &str,
    attachments: &[Attachment],
) -> Result<(), Refusal> {
    let counted = text.chars().filter(|c| !c.is_whitespace()).count();
    if counted == 0 && attachments.is_empty() {
        return Err(Refusal::invalid(
            "text",
            "a message needs text or an attachment",
        ));
    }
    if counted > MAX_TEXT_CHARS_WITHOUT_SPACES {
        return Err(Refusal::invalid(
            "text",
            format!("{counted} characters without spaces, at most {MAX_TEXT_CHARS_WITHOUT_SPACES}"),
        ));
    }
    let images = attachments
        .iter()
        .filter(|a| a.kind == AttachmentKind::Image)
        .count();
    if images < attachments.len() && attachments.len() > 1 {
        return Err(Refusal::invalid(
            "attachments",
            "one file, or up to 10 images, per message",
        ));
    }
    if images > MAX_IMAGES {
        return Err(Refusal::invalid(
            "attachments",
            format!("{images} images, at most {MAX_IMAGES}"),
        ));
    }
    let mut total: u64 = 0;
    for attachment in attachments {
        if attachment.file_name.trim().is_empty() || attachment.storage_ref.is_empty() {
            return Err(Refusal::invalid(
                "attachments",
                "every attachment needs a file name and a storage reference",
            ));
        }
        if let Some(types) = channel_types(channel, attachment.kind) {
            // The type without its parameters (`audio/ogg; codecs=opus`).
            let mime = attachment.mime_type.split(';').next().unwrap_or("").trim();
            if !types.iter().any(|t| t.eq_ignore_ascii_case(mime)) {
                return Err(Refusal::invalid(
                    "attachments",
                    format!(
                        "{} is {}: {} takes {}",
                        attachment.file_name,
                        attachment.mime_type,
                        channel.as_str(),
                        types.join(", ")
                    ),
                ));
            }
        }
        if let Some(limit) = channel_limit(channel, attachment.kind)
            && attachment.size_bytes > limit
        {
            return Err(Refusal::invalid(
                "attachments",
                format!(
                    "{} is {} bytes, {} allows {} MB for this kind",
                    attachment.file_name,
                    attachment.size_bytes,
                    channel.as_str(),
                    limit / MB
                ),
            ));
        }
        total = total.saturating_add(attachment.size_bytes);
    }
    if total > MAX_TOTAL_BYTES {
        return Err(Refusal::invalid(
            "attachments",
            "more than 500 MB in one message",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(kind: AttachmentKind, size_bytes: u64) -> Attachment {
        // A type every channel takes for the kind: the sizes are what these tests try.
        let mime = match kind {
            AttachmentKind::Image => "image/jpeg",
            AttachmentKind::Video => "video/mp4",
            AttachmentKind::Audio | AttachmentKind::Voice => "audio/ogg",
            AttachmentKind::File => "application/octet-stream",
        };
        Attachment {
            kind,
            file_name: "f".into(),
            mime_type: mime.into(),
            size_bytes,
            storage_ref: "blob/1".into(),
        }
    }

    #[test]
    fn text_limit_does_not_count_spaces() {
        let exactly = "a ".repeat(2000);
        assert!(check_outbound(ChannelKind::Telegram, &exactly, &[]).is_ok());
        let over = "a".repeat(2001);
        assert!(matches!(
            check_outbound(ChannelKind::Telegram, &over, &[]),
            Err(Refusal::Invalid { field: "text", .. })
        ));
        // Cyrillic counts characters, not bytes.
        assert!(check_outbound(ChannelKind::Telegram, &"я".repeat(2000), &[]).is_ok());
        assert!(check_outbound(ChannelKind::Telegram, "   \n ", &[]).is_err());
    }

    #[test]
    fn one_file_or_up_to_ten_images() {
        let ten: Vec<_> = (0..10).map(|_| file(AttachmentKind::Image, 1)).collect();
        assert!(check_outbound(ChannelKind::Telegram, "", &ten).is_ok());
        let eleven: Vec<_> = (0..11).map(|_| file(AttachmentKind::Image, 1)).collect();
        assert!(check_outbound(ChannelKind::Telegram, "", &eleven).is_err());
        let two_files = [file(AttachmentKind::File, 1), file(AttachmentKind::File, 1)];
        assert!(check_outbound(ChannelKind::Telegram, "", &two_files).is_err());
        let mixed = [
            file(AttachmentKind::Image, 1),
            file(AttachmentKind::Video, 1),
        ];
        assert!(check_outbound(ChannelKind::Telegram, "", &mixed).is_err());
        assert!(
            check_outbound(ChannelKind::Telegram, "", &[file(AttachmentKind::Video, 1)]).is_ok()
        );
    }

    #[test]
    fn per_channel_sizes() {
        let image_6mb = [file(AttachmentKind::Image, 6 * MB)];
        assert!(check_outbound(ChannelKind::WhatsappCloud, "", &image_6mb).is_err());
        assert!(check_outbound(ChannelKind::Telegram, "", &image_6mb).is_ok());
        let doc_150mb = [file(AttachmentKind::File, 150 * MB)];
        assert!(check_outbound(ChannelKind::Vk, "", &doc_150mb).is_ok());
        assert!(check_outbound(ChannelKind::WhatsappQr, "", &doc_150mb).is_err());
        // Unlisted channel: no channel limit, but 500 MB per message.
        assert!(check_outbound(ChannelKind::Email, "", &doc_150mb).is_ok());
        let huge = [file(AttachmentKind::File, 501 * MB)];
        assert!(check_outbound(ChannelKind::Email, "", &huge).is_err());
        let voice_9mb = [file(AttachmentKind::Voice, 9 * MB)];
        assert!(check_outbound(ChannelKind::Vk, "", &voice_9mb).is_err());
    }

    #[test]
    fn whatsapp_takes_its_own_media_types_and_the_others_any() {
        let typed = |kind, mime: &str| Attachment {
            mime_type: mime.into(),
            ..file(kind, MB)
        };
        let webp = [typed(AttachmentKind::Image, "image/webp")];
        assert!(matches!(
            check_outbound(ChannelKind::WhatsappCloud, "", &webp),
            Err(Refusal::Invalid {
                field: "attachments",
                ..
            })
        ));
        assert!(check_outbound(ChannelKind::Telegram, "", &webp).is_ok());
        let png = [typed(AttachmentKind::Image, "IMAGE/PNG")];
        assert!(check_outbound(ChannelKind::WhatsappCloud, "", &png).is_ok());
        let opus = [typed(AttachmentKind::Audio, "audio/ogg; codecs=opus")];
        assert!(check_outbound(ChannelKind::WhatsappCloud, "", &opus).is_ok());
        let mkv = [typed(AttachmentKind::Video, "video/x-matroska")];
        assert!(check_outbound(ChannelKind::WhatsappCloud, "", &mkv).is_err());
        let zip = [typed(AttachmentKind::File, "application/zip")];
        assert!(check_outbound(ChannelKind::WhatsappCloud, "", &zip).is_ok());
    }
}
