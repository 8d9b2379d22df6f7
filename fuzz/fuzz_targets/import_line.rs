//! Registry import lines, as `edld registry import` reads them: CSV records (no header) and
//! JSON Lines, each turned into a licence record with every field validated.

#![no_main]

use daemon::testing::RegistryLine;
use daemon::testing::csv_line;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    for record in reader.records().flatten() {
        if let Ok(line) = csv_line(&record) {
            let _ = line.into_record(None);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines() {
            if let Ok(parsed) = serde_json::from_str::<RegistryLine>(line) {
                let _ = parsed.into_record(None);
            }
        }
    }
});
