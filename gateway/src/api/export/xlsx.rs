//! The export as XLSX (`rust_xlsxwriter`), in its constant-memory mode: each row goes to a
//! temporary file of the worksheet as it is written, and the workbook is zipped from them at
//! the end, so memory stays flat at any size. An XLSX is a zip whose directory comes last, so
//! nothing can be sent before it is whole: the workbook is written into a temporary directory
//! (the system's), then sent from the file a chunk at a time. The directory is removed when the
//! sending ends, whether the client read it all, went away, or the writing failed.
//!
//! A worksheet holds at most 1,048,576 rows: past that the rows go on in a next sheet, with
//! the header again. Times are Excel date-times (UTC); the client number a number; texts are
//! cut at Excel's 32,767 characters per cell.

use super::{CHUNKS_IN_FLIGHT, Cell, ExportError, Walk};
use crate::api::AppError;
use axum::body::Body;
use bytes::Bytes;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};
use std::io::Read;
use tokio::sync::{mpsc, oneshot};

/// Rows of one worksheet, the header included (Excel's limit).
const SHEET_ROWS: u32 = 1_048_576;

/// Characters of one cell (Excel's limit).
const CELL_CHARS: usize = 32_767;

/// Bytes of the file sent per chunk.
const CHUNK: usize = 64 * 1024;

/// Writes the workbook, then answers its length and a body that sends it. An error before
/// the file is whole is the answer's error.
pub(super) async fn build(walk: Walk) -> Result<(u64, Body), AppError> {
    let (ready, written) = oneshot::channel::<Result<u64, ExportError>>();
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let dir = match tempfile::Builder::new()
            .prefix("switchboard-export-")
            .tempdir()
        {
            Ok(dir) => dir,
            Err(error) => {
                let _ = ready.send(Err(ExportError::Write(error.to_string())));
                return;
            }
        };
        let path = dir.path().join("clients.xlsx");
        let closed = sender.clone();
        let written = write(walk, dir.path(), &path, || closed.is_closed());
        let length = match written {
            Ok(()) => std::fs::metadata(&path)
                .map(|m| m.len())
                .map_err(|e| ExportError::Write(e.to_string())),
            Err(error) => Err(error),
        };
        let failed = length.is_err();
        if ready.send(length).is_err() || failed {
            return;
        }
        if let Err(error) = send_file(&path, &sender) {
            tracing::warn!(%error, "clients export stopped");
            let _ = sender.blocking_send(Err(error));
        }
        // `dir` is dropped here: the file and the worksheets' temporary files go with it.
    });
    let length = written
        .await
        .map_err(|_| AppError::Internal("the export task ended without an answer".to_owned()))??;
    Ok((length, super::body(receiver)))
}

fn send_file(
    path: &std::path::Path,
    sender: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), std::io::Error> {
    let mut file = std::fs::File::open(path)?;
    loop {
        let mut chunk = vec![0; CHUNK];
        let read = file.read(&mut chunk)?;
        if read == 0 {
            return Ok(());
        }
        chunk.truncate(read);
        if sender.blocking_send(Ok(Bytes::from(chunk))).is_err() {
            // The client went away.
            return Ok(());
        }
    }
}

fn xlsx(error: XlsxError) -> ExportError {
    ExportError::Write(error.to_string())
}

/// Writes the workbook to `path`, its worksheets' rows through temporary files in `dir`;
/// stops early (and writes nothing) once `gone` says the client went away.
fn write(
    walk: Walk,
    dir: &std::path::Path,
    path: &std::path::Path,
    gone: impl Fn() -> bool,
) -> Result<(), ExportError> {
    let header: Vec<String> = walk.header().into_iter().map(str::to_owned).collect();
    let bold = Format::new().set_bold();
    let time = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let mut workbook = Workbook::new();
    workbook.set_tempdir(dir).map_err(xlsx)?;
    let mut sheets = 0;
    let mut next_row = SHEET_ROWS;
    let mut stopped = false;
    walk.run(|rows| {
        if gone() {
            stopped = true;
            return Ok(false);
        }
        for row in rows {
            if next_row == SHEET_ROWS {
                sheets += 1;
                let sheet = workbook
                    .add_worksheet_with_constant_memory()
                    .map_err(xlsx)?;
                sheet
                    .set_name(if sheets == 1 {
                        "clients".to_owned()
                    } else {
                        format!("clients {sheets}")
                    })
                    .map_err(xlsx)?;
                for (column, name) in header.iter().enumerate() {
                    sheet
                        .write_string_with_format(0, column_number(column)?, name, &bold)
                        .map_err(xlsx)?;
                }
                next_row = 1;
            }
            let sheet = last_sheet(&mut workbook)?;
            for (column, cell) in row.into_iter().enumerate() {
                write_cell(sheet, next_row, column_number(column)?, cell, &time)?;
            }
            next_row += 1;
        }
        Ok(true)
    })?;
    if stopped {
        return Ok(());
    }
    if sheets == 0 {
        // No client: a sheet with the header alone.
        let sheet = workbook
            .add_worksheet_with_constant_memory()
            .map_err(xlsx)?;
        sheet.set_name("clients").map_err(xlsx)?;
        for (column, name) in header.iter().enumerate() {
            sheet
                .write_string_with_format(0, column_number(column)?, name, &bold)
                .map_err(xlsx)?;
        }
    }
    workbook.save(path).map_err(xlsx)
}

fn last_sheet(workbook: &mut Workbook) -> Result<&mut Worksheet, ExportError> {
    workbook
        .worksheets_mut()
        .last_mut()
        .ok_or_else(|| ExportError::Write("no worksheet".to_owned()))
}

fn column_number(column: usize) -> Result<u16, ExportError> {
    u16::try_from(column).map_err(|_| ExportError::Write("too many columns".to_owned()))
}

fn write_cell(
    sheet: &mut Worksheet,
    row: u32,
    column: u16,
    cell: Cell,
    time: &Format,
) -> Result<(), ExportError> {
    match cell {
        Cell::Text(text) if text.is_empty() => {}
        Cell::Text(text) => {
            let text = match text.char_indices().nth(CELL_CHARS) {
                Some((cut, _)) => text[..cut].to_owned(),
                None => text,
            };
            sheet.write_string(row, column, text).map_err(xlsx)?;
        }
        // Client numbers are far below 2^53: exact as a double.
        #[allow(clippy::cast_precision_loss)]
        Cell::Number(number) => {
            sheet
                .write_number(row, column, number as f64)
                .map_err(xlsx)?;
        }
        Cell::Time(at) => {
            let seconds = at.as_micros().div_euclid(1_000_000);
            let datetime = ExcelDateTime::from_timestamp(seconds).map_err(xlsx)?;
            sheet
                .write_datetime_with_format(row, column, &datetime, time)
                .map_err(xlsx)?;
        }
    }
    Ok(())
}
