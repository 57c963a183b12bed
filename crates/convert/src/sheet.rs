//! Spreadsheets (xlsx, ods) to CSV or JSON with calamine: the first sheet, with the
//! cached results of formulas.
//!
//! Bounds: the package was checked at upload (`package`: entry count, unpacked size).
//! An xlsx sheet is streamed cell by cell and written as it goes, so the output limit
//! bounds the work. calamine reads an ods file into dense grids, where one
//! `number-rows-repeated` attribute can stand for millions of cells, so the cells an
//! ods file expands to are counted first ([`ods_cells`]) and a file over
//! [`MAX_ODS_CELLS`] is refused before calamine sees it.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use calamine::{Data, DataRef, Ods, Reader, Xlsx};
use serde_json::{Map, Number, Value};

use crate::{Budget, BudgetWriter, ConversionError, Format};

/// Most cells an ods file may expand to: calamine holds about 56 bytes per cell, so
/// about 220 MB (200 000 rows of 20 columns fit).
pub const MAX_ODS_CELLS: u64 = 4_000_000;
/// Most spaces the `<text:s>` runs of an ods file may expand to.
pub const MAX_ODS_SPACES: u64 = 64 * 1024 * 1024;
/// Widest sheet (Excel's own limit).
const MAX_COLUMNS: u32 = 16_384;

/// One cell's value, whichever reader produced it.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Empty,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl From<Data> for Cell {
    fn from(value: Data) -> Self {
        match value {
            Data::Empty => Self::Empty,
            Data::String(text) | Data::DateTimeIso(text) | Data::DurationIso(text) => {
                Self::Text(text)
            }
            Data::Int(n) => Self::Int(n),
            Data::Float(x) => Self::Float(x),
            Data::Bool(b) => Self::Bool(b),
            Data::DateTime(moment) => Self::Text(iso_datetime(&moment)),
            Data::Error(error) => Self::Text(format!("#{error:?}")),
        }
    }
}

impl Cell {
    /// As shown in CSV: integral floats without a fraction, booleans as Excel shows them.
    fn text(&self) -> String {
        match self {
            Self::Empty => String::new(),
            Self::Text(text) => text.clone(),
            Self::Int(n) => n.to_string(),
            Self::Float(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", *x as i64),
            Self::Float(x) => x.to_string(),
            Self::Bool(true) => "TRUE".to_owned(),
            Self::Bool(false) => "FALSE".to_owned(),
        }
    }

    fn json(&self) -> Value {
        match self {
            Self::Empty => Value::Null,
            Self::Text(text) => Value::String(text.clone()),
            Self::Int(n) => Value::Number((*n).into()),
            Self::Float(x) if x.fract() == 0.0 && x.abs() < 1e15 => {
                Value::Number((*x as i64).into())
            }
            Self::Float(x) => Number::from_f64(*x).map_or(Value::Null, Value::Number),
            Self::Bool(b) => Value::Bool(*b),
        }
    }
}

fn iso_datetime(moment: &calamine::ExcelDateTime) -> String {
    if moment.is_duration() {
        return moment.as_f64().to_string();
    }
    let (year, month, day, hour, minute, second, _) = moment.to_ymd_hms_milli();
    if (hour, minute, second) == (0, 0, 0) {
        format!("{year:04}-{month:02}-{day:02}")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}")
    }
}

/// Where rows go: a CSV or a JSON writer.
trait RowSink {
    fn row(&mut self, cells: &[Cell]) -> Result<(), ConversionError>;
    fn finish(self: Box<Self>) -> Result<(), ConversionError>;
}

struct CsvSink<'a, 'b> {
    writer: csv::Writer<&'a mut BudgetWriter<'b>>,
    budget: &'a Budget,
}

impl RowSink for CsvSink<'_, '_> {
    fn row(&mut self, cells: &[Cell]) -> Result<(), ConversionError> {
        self.writer
            .write_record(cells.iter().map(Cell::text))
            .map_err(|e| ConversionError::Failed(format!("writing csv: {e}")))?;
        self.budget.check_time()
    }

    fn finish(self: Box<Self>) -> Result<(), ConversionError> {
        self.writer
            .into_inner()
            .map(drop)
            .map_err(|e| ConversionError::Failed(format!("writing csv: {}", e.error())))
    }
}

/// A JSON array of objects keyed by the first row, written an object at a time.
struct JsonSink<'a, 'b> {
    out: &'a mut BudgetWriter<'b>,
    budget: &'a Budget,
    header: Option<Vec<String>>,
    rows: u64,
}

impl RowSink for JsonSink<'_, '_> {
    fn row(&mut self, cells: &[Cell]) -> Result<(), ConversionError> {
        use std::io::Write as _;
        let Some(header) = &self.header else {
            self.header = Some(header_names(cells));
            return Ok(());
        };
        let object: Map<String, Value> = header
            .iter()
            .enumerate()
            .map(|(i, key)| (key.clone(), cells.get(i).map_or(Value::Null, Cell::json)))
            .collect();
        let separator: &[u8] = if self.rows == 0 { b"[\n" } else { b",\n" };
        self.rows += 1;
        let written = self
            .out
            .write_all(separator)
            .and_then(|()| serde_json::to_writer(&mut *self.out, &object).map_err(Into::into));
        written.map_err(|e| ConversionError::Failed(format!("writing json: {e}")))?;
        self.budget.check_time()
    }

    fn finish(self: Box<Self>) -> Result<(), ConversionError> {
        use std::io::Write as _;
        let end: &[u8] = if self.rows == 0 { b"[]\n" } else { b"\n]\n" };
        self.out
            .write_all(end)
            .map_err(|e| ConversionError::Failed(format!("writing json: {e}")))
    }
}

/// Keys from a header row: its text, `column_N` where empty, `name_2`… where repeated.
fn header_names(cells: &[Cell]) -> Vec<String> {
    let mut used: HashSet<String> = HashSet::with_capacity(cells.len());
    // The next suffix to try for each base name, so repeats cost one step each.
    let mut next_suffix: HashMap<String, u64> = HashMap::new();
    let mut names = Vec::with_capacity(cells.len());
    for (i, cell) in cells.iter().enumerate() {
        let base = match cell.text().trim() {
            "" => format!("column_{}", i + 1),
            text => text.to_owned(),
        };
        let mut name = base.clone();
        if used.contains(&name) {
            let suffix = next_suffix.entry(base.clone()).or_insert(2);
            loop {
                name = format!("{base}_{suffix}");
                *suffix += 1;
                if !used.contains(&name) {
                    break;
                }
            }
        }
        used.insert(name.clone());
        names.push(name);
    }
    names
}

/// The first sheet of the workbook at `path` as `target` (csv or json), into `out`.
pub fn convert(
    path: &Path,
    source: Format,
    target: Format,
    budget: &Budget,
    out: &mut BudgetWriter<'_>,
) -> Result<(), ConversionError> {
    let mut sink: Box<dyn RowSink + '_> = match target {
        Format::Csv => Box::new(CsvSink {
            writer: csv::WriterBuilder::new().flexible(true).from_writer(out),
            budget,
        }),
        Format::Json => Box::new(JsonSink {
            out,
            budget,
            header: None,
            rows: 0,
        }),
        _ => return Err(ConversionError::Unsupported),
    };
    let file = BufReader::new(File::open(path).map_err(ConversionError::Io)?);
    match source {
        Format::Xlsx => stream_xlsx(file, sink.as_mut())?,
        Format::Ods => {
            check_ods_size(BufReader::new(
                File::open(path).map_err(ConversionError::Io)?,
            ))?;
            budget.check_time()?;
            read_ods(file, sink.as_mut())?;
        }
        _ => return Err(ConversionError::Unsupported),
    }
    sink.finish()
}

fn unreadable(format: Format) -> impl Fn(String) -> ConversionError {
    move |error| ConversionError::Invalid(format!("not a readable {format} workbook ({error})"))
}

/// The first sheet's cells in order, a row at a time, each row padded to the first
/// row's width. Cells without a value (styled but empty) are left out, so trailing
/// empty rows and columns are too.
fn stream_xlsx<R: Read + Seek>(file: R, sink: &mut dyn RowSink) -> Result<(), ConversionError> {
    let invalid = unreadable(Format::Xlsx);
    let mut workbook = Xlsx::new(file).map_err(|e| invalid(e.to_string()))?;
    let Some(first) = workbook.sheet_names().into_iter().next() else {
        return Err(invalid("it has no sheets".into()));
    };
    let mut cells = workbook
        .worksheet_cells_reader(&first)
        .map_err(|e| invalid(e.to_string()))?;
    let mut row: Vec<Cell> = Vec::new();
    let mut width: Option<usize> = None;
    let mut current: Option<u32> = None;
    while let Some(cell) = cells.next_cell().map_err(|e| invalid(e.to_string()))? {
        if matches!(cell.get_value(), DataRef::Empty) {
            continue;
        }
        let (r, c) = cell.get_position();
        if c >= MAX_COLUMNS {
            return Err(invalid(format!("column {} is past the last one", c + 1)));
        }
        match current {
            Some(at) if r < at => {
                return Err(invalid("its cells are out of order".into()));
            }
            Some(at) if r > at => {
                flush(&mut row, &mut width, sink)?;
                // Rows with no values between two used ones stay as empty lines.
                for _ in at + 1..r {
                    flush(&mut row, &mut width, sink)?;
                }
            }
            _ => {}
        }
        current = Some(r);
        let c = c as usize;
        if row.len() <= c {
            row.resize(c + 1, Cell::Empty);
        }
        row[c] = Cell::from(Data::from(cell.get_value().clone()));
    }
    if current.is_some() {
        flush(&mut row, &mut width, sink)?;
    }
    Ok(())
}

/// Writes one row, padded to `width` (set by the first row written).
fn flush(
    row: &mut Vec<Cell>,
    width: &mut Option<usize>,
    sink: &mut dyn RowSink,
) -> Result<(), ConversionError> {
    let width = *width.get_or_insert(row.len());
    if row.len() < width {
        row.resize(width, Cell::Empty);
    }
    sink.row(row)?;
    row.clear();
    Ok(())
}

/// The first sheet of an ods workbook (already counted and bounded).
fn read_ods<R: Read + Seek>(file: R, sink: &mut dyn RowSink) -> Result<(), ConversionError> {
    let invalid = unreadable(Format::Ods);
    let mut workbook: Ods<R> = Ods::new(file).map_err(|e| invalid(e.to_string()))?;
    let Some(first) = workbook.sheet_names().into_iter().next() else {
        return Err(invalid("it has no sheets".into()));
    };
    let range = workbook
        .worksheet_range(&first)
        .map_err(|e| invalid(e.to_string()))?;
    let leading_columns = range.start().map_or(0, |(_, column)| column as usize);
    let mut cells = Vec::new();
    for row in range.rows() {
        cells.clear();
        cells.resize(leading_columns, Cell::Empty);
        cells.extend(row.iter().cloned().map(Cell::from));
        sink.row(&cells)?;
    }
    Ok(())
}

/// Refuses an ods file that expands to more than [`MAX_ODS_CELLS`] cells, or whose
/// space runs (`<text:s text:c="…">`, which calamine writes out) exceed
/// [`MAX_ODS_SPACES`].
pub fn check_ods_size<R: Read + Seek>(file: R) -> Result<(), ConversionError> {
    let expansion = ods_expansion(file)?;
    if expansion.cells > MAX_ODS_CELLS {
        return Err(ConversionError::Invalid(format!(
            "the spreadsheet expands to {} cells; at most {MAX_ODS_CELLS} are converted",
            expansion.cells
        )));
    }
    if expansion.spaces > MAX_ODS_SPACES {
        return Err(ConversionError::Invalid(format!(
            "the spreadsheet's text expands to more than {MAX_ODS_SPACES} spaces"
        )));
    }
    Ok(())
}

/// What calamine will hold for an ods file.
#[derive(Debug, Default)]
struct Expansion {
    cells: u64,
    spaces: u64,
}

/// Counts, as calamine reads it (empty elements expanded, end names unchecked): for
/// each top-level table, the rows up to its last one with a value times its widest
/// such row (repeats counted; the trailing empty runs spreadsheet programs write are
/// left out, as calamine does), and every run of spaces.
fn ods_expansion<R: Read + Seek>(file: R) -> Result<Expansion, ConversionError> {
    use quick_xml::events::Event;

    let invalid = unreadable(Format::Ods);
    let mut archive = zip::ZipArchive::new(file).map_err(|e| invalid(e.to_string()))?;
    let content = archive
        .by_name("content.xml")
        .map_err(|e| invalid(e.to_string()))?;
    let mut reader = quick_xml::Reader::from_reader(BufReader::new(content));
    let config = reader.config_mut();
    config.expand_empty_elements = true;
    config.check_end_names = false;
    let mut buffer = Vec::new();
    let mut expansion = Expansion::default();
    let mut depth = 0u32;
    let (mut rows, mut empty_rows, mut widest) = (0u64, 0u64, 0u64);
    let (mut row_repeats, mut columns, mut empty_columns, mut row_has_value) =
        (1u64, 0u64, 0u64, false);
    loop {
        let event = reader
            .read_event_into(&mut buffer)
            .map_err(|e| invalid(e.to_string()))?;
        match event {
            Event::Start(element) => match element.name().as_ref() {
                "table:table" => {
                    depth += 1;
                    if depth == 1 {
                        (rows, empty_rows, widest) = (0, 0, 0);
                    }
                }
                "table:table-row" => {
                    row_repeats = attribute_number(&element, "table:number-rows-repeated");
                    (columns, empty_columns, row_has_value) = (0, 0, false);
                }
                "table:table-cell" | "table:covered-table-cell" => {
                    let count = attribute_number(&element, "table:number-columns-repeated");
                    if cell_has_value(&element) {
                        columns = columns.saturating_add(empty_columns).saturating_add(count);
                        empty_columns = 0;
                        row_has_value = true;
                    } else {
                        empty_columns = empty_columns.saturating_add(count);
                    }
                }
                "text:s" => {
                    let count = attribute_number(&element, "text:c");
                    expansion.spaces = expansion.spaces.saturating_add(count);
                }
                _ => {}
            },
            Event::End(element) => match element.name().as_ref() {
                "table:table-row" if row_has_value => {
                    rows = rows.saturating_add(empty_rows).saturating_add(row_repeats);
                    empty_rows = 0;
                    widest = widest.max(columns);
                }
                "table:table-row" => empty_rows = empty_rows.saturating_add(row_repeats),
                "table:table" => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        let cells = rows.saturating_mul(widest);
                        expansion.cells = expansion.cells.saturating_add(cells);
                    }
                }
                _ => {}
            },
            Event::Eof => return Ok(expansion),
            _ => {}
        }
        buffer.clear();
    }
}

/// calamine's rule: a cell holds a value if it has one of the value attributes, is a
/// string cell (its text is the value) or has a formula.
fn cell_has_value(element: &quick_xml::events::BytesStart<'_>) -> bool {
    element
        .attributes()
        .flatten()
        .any(|attribute| match attribute.key.as_ref() {
            "office:value"
            | "office:string-value"
            | "office:date-value"
            | "office:time-value"
            | "office:boolean-value"
            | "table:formula" => true,
            "office:value-type" => attribute.value.as_ref() == "string",
            _ => false,
        })
}

/// A numeric attribute (a repeat count), 1 if absent or unreadable.
fn attribute_number(element: &quick_xml::events::BytesStart<'_>, name: &str) -> u64 {
    element
        .attributes()
        .flatten()
        .find(|attribute| attribute.key.as_ref() == name)
        .and_then(|attribute| attribute.value.trim().parse().ok())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_unique_and_never_empty() {
        let cells = [
            Cell::Text("name".into()),
            Cell::Empty,
            Cell::Text("name".into()),
            Cell::Int(3),
        ];
        assert_eq!(header_names(&cells), ["name", "column_2", "name_2", "3"]);
    }

    #[test]
    fn integral_numbers_print_without_a_fraction() {
        assert_eq!(Cell::Float(42.0).text(), "42");
        assert_eq!(Cell::Float(2.5).text(), "2.5");
        assert_eq!(Cell::Float(42.0).json(), serde_json::json!(42));
        assert_eq!(Cell::Bool(true).text(), "TRUE");
    }
}
