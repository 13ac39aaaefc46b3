//! A compact stored form for message texts in Cyrillic, the bulk of what the timeline keeps.
//!
//! UTF-8 spends two bytes on every Cyrillic letter. A text whose characters are all ASCII or
//! among the 128 of [`UPPER`] (the Cyrillic block U+0400–U+045F, Ґ/ґ, and the punctuation and
//! signs Russian and Ukrainian texts use: « » — … № ₽ …) is stored as a BLOB: the format byte
//! [`FORMAT_SINGLE_BYTE`], then one byte per character — ASCII as itself, the others as
//! `0x80 + their index in UPPER`. A Russian sentence shrinks by 40–45 %. Any other text (emoji,
//! Latin accents, CJK…) is stored as it is, as TEXT; so is one the form would not make shorter.
//! Used for the timeline's texts and the dialog list's last-message and draft previews.
//!
//! The form is a pure function of the text: no dictionary trained on what clients wrote (that
//! would keep pieces of a deleted client's messages, F4.8), the same bytes on a rebuild, and a
//! reader needs nothing but this table. The format byte leaves room for other forms later.

/// The format byte of the single-byte form.
pub(crate) const FORMAT_SINGLE_BYTE: u8 = 1;

/// The characters of bytes `0x80..=0xFF`, in order.
const UPPER: [char; 128] = {
    let mut table = ['\0'; 128];
    let mut i = 0;
    // U+0400–U+045F: Ѐ Ё … А–Я а–я ѐ ё … (Russian, Ukrainian, Belarusian, Serbian, Macedonian).
    while i < 96 {
        table[i] = match char::from_u32(0x0400 + i as u32) {
            Some(c) => c,
            None => '\0',
        };
        i += 1;
    }
    let extra = [
        'Ґ', 'ґ', '«', '»', '—', '–', '…', '№', '‘', '’', '“', '”', '„', '•', '₽', '€', '\u{a0}',
        '°', '×', '©', '®', '™', '§', '±', '·', '‚', '₴', '₸', '←', '→', '✓', '\u{2009}',
    ];
    let mut j = 0;
    while j < 32 {
        table[96 + j] = extra[j];
        j += 1;
    }
    table
};

/// The byte of a non-ASCII character in the single-byte form, if it has one.
fn byte_of(c: char) -> Option<u8> {
    let code = c as u32;
    if (0x0400..0x0460).contains(&code) {
        return Some(0x80 + (code - 0x0400) as u8);
    }
    UPPER[96..]
        .iter()
        .position(|&u| u == c)
        .map(|at| 0x80 + 96 + at as u8)
}

/// The single-byte form of `text`, when every character has one and it is shorter than the
/// UTF-8 (format byte included); `None` means "store the text as it is".
pub(crate) fn encode(text: &str) -> Option<Vec<u8>> {
    // Each non-ASCII character saves at least one byte; the format byte costs one.
    if text.len() - text.chars().count() < 2 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 2 + 8);
    out.push(FORMAT_SINGLE_BYTE);
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c as u8);
        } else {
            out.push(byte_of(c)?);
        }
    }
    Some(out)
}

/// The text of a stored BLOB; an error names what is wrong with it.
pub(crate) fn decode(bytes: &[u8]) -> Result<String, String> {
    match bytes.split_first() {
        Some((&FORMAT_SINGLE_BYTE, rest)) => Ok(rest
            .iter()
            .map(|&b| {
                if b < 0x80 {
                    char::from(b)
                } else {
                    UPPER[usize::from(b - 0x80)]
                }
            })
            .collect()),
        Some((format, _)) => Err(format!("unknown compact text format {format}")),
        None => Err("an empty compact text".to_owned()),
    }
}

/// Reads a text column that holds either TEXT or the compact BLOB form.
pub(crate) fn column(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<String> {
    match row.get_ref(index)? {
        rusqlite::types::ValueRef::Blob(bytes) => decode(bytes).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Blob, e.into())
        }),
        _ => row.get(index),
    }
}

/// [`column`] for a nullable column.
pub(crate) fn optional_column(
    row: &rusqlite::Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<String>> {
    match row.get_ref(index)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => column(row, index).map(Some),
    }
}

/// The value to store for `text`: the compact form when there is one, else the text.
pub(crate) fn value(text: &str) -> rusqlite::types::Value {
    match encode(text) {
        Some(bytes) => rusqlite::types::Value::Blob(bytes),
        None => rusqlite::types::Value::Text(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_table_has_no_holes_or_repeats() {
        let mut seen = std::collections::HashSet::new();
        for c in UPPER {
            assert!(!c.is_ascii(), "{c:?}");
            assert!(seen.insert(c), "{c:?} twice");
            assert_eq!(byte_of(c).map(|b| UPPER[usize::from(b - 0x80)]), Some(c));
        }
    }

    #[test]
    fn russian_shrinks_by_almost_half() {
        let text = "Добрый вечер! Пришло не то: вместо карты положили скидку. Очень жду.";
        let compact = encode(text).expect("Cyrillic and ASCII");
        assert_eq!(compact.len(), text.chars().count() + 1);
        assert!(
            compact.len() * 100 < text.len() * 60,
            "{} of {}",
            compact.len(),
            text.len()
        );
        assert_eq!(decode(&compact).as_deref(), Ok(text));
        let quoted = "«Ёлка» — №5, 1 990 ₽…";
        assert_eq!(
            decode(&encode(quoted).expect("mapped")).as_deref(),
            Ok(quoted)
        );
    }

    #[test]
    fn other_texts_stay_as_they_are() {
        assert_eq!(encode("Refunds take up to 8 business days."), None);
        assert_eq!(encode("Спасибо 🙏"), None, "an emoji has no byte");
        assert_eq!(encode("café"), None, "one accent saves nothing");
        assert_eq!(encode(""), None);
        assert!(decode(&[9, 65]).is_err());
        assert!(decode(&[]).is_err());
    }

    proptest! {
        #[test]
        fn every_text_comes_back(text in "(\\PC|[а-яА-ЯёЁ«»—№ ]){0,40}") {
            let mappable = text.chars().all(|c| c.is_ascii() || byte_of(c).is_some());
            let shorter = text.len() - text.chars().count() >= 2;
            let encoded = encode(&text);
            prop_assert_eq!(encoded.is_some(), mappable && shorter);
            if let Some(bytes) = encoded {
                prop_assert!(bytes.len() < text.len());
                prop_assert_eq!(decode(&bytes), Ok(text));
            }
        }
    }
}
