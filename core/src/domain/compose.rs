//! F3.4: what one outbound message may carry. Text: at most 2000 characters not counting white
//! space. Attachments: one file, or up to 10 images; per-channel size limits; 500 MB in total.

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
        Attachment {
            kind,
            file_name: "f".into(),
            mime_type: "application/octet-stream".into(),
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
}
