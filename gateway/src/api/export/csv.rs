//! The export as CSV (RFC 4180 by the `csv` crate), written and sent a page at a time.
//!
//! UTF-8 with a byte order mark: without it Excel, which most people open an export with,
//! reads the file in the machine's ANSI code page and shows Cyrillic names as mojibake; other
//! readers skip the mark. Times are RFC 3339 in UTC.

use super::{CHUNKS_IN_FLIGHT, Cell, ExportError, Walk};
use axum::body::Body;
use bytes::Bytes;
use tokio::sync::mpsc;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The body: the header at once, then each page as the walk reads it. An error mid-way ends
/// the body with an error (the client sees a cut connection, never a short file that looks
/// whole).
pub(super) fn stream(walk: Walk) -> Body {
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        if let Err(error) = write(walk, &sender) {
            tracing::warn!(%error, "clients export stopped");
            // The client may be gone already: nothing more to do then.
            let _ = sender.blocking_send(Err(std::io::Error::other(error.to_string())));
        }
    });
    super::body(receiver)
}

fn write(
    walk: Walk,
    sender: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), ExportError> {
    let mut chunk = BOM.to_vec();
    records(&mut chunk, [walk.header()])?;
    if sender.blocking_send(Ok(Bytes::from(chunk))).is_err() {
        return Ok(());
    }
    walk.run(|rows| {
        let mut chunk = Vec::with_capacity(rows.len() * 200);
        records(
            &mut chunk,
            rows.iter()
                .map(|row| row.iter().map(text).collect::<Vec<_>>()),
        )?;
        // A send fails only when the client went away.
        Ok(sender.blocking_send(Ok(Bytes::from(chunk))).is_ok())
    })
}

fn records<R, F>(out: &mut Vec<u8>, records: impl IntoIterator<Item = R>) -> Result<(), ExportError>
where
    R: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out);
    for record in records {
        writer
            .write_record(record)
            .map_err(|e| ExportError::Write(e.to_string()))?;
    }
    writer
        .flush()
        .map_err(|e| ExportError::Write(e.to_string()))
}

fn text(cell: &Cell) -> String {
    match cell {
        Cell::Text(text) => text.clone(),
        Cell::Number(number) => number.to_string(),
        Cell::Time(at) => at.to_rfc3339(),
    }
}
