//! The figures a load run reports, kept per storage engine so that a run on several
//! engines ends with them side by side.

use std::sync::Mutex;

/// (engine, figure, value) in the order noted.
static NOTED: Mutex<Vec<(String, String, String)>> = Mutex::new(Vec::new());
static ENGINE: Mutex<String> = Mutex::new(String::new());

/// The engine the figures noted from now on belong to.
pub fn engine(name: &str) {
    *ENGINE.lock().unwrap_or_else(|p| p.into_inner()) = name.to_owned();
}

/// Notes `figure` = `value` for the current engine.
pub fn note(figure: &str, value: String) {
    let engine = ENGINE.lock().unwrap_or_else(|p| p.into_inner()).clone();
    NOTED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((engine, figure.to_owned(), value));
}

/// The figures as a table: one row per figure, one column per engine.
pub fn table() -> String {
    let noted = NOTED.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut engines: Vec<String> = Vec::new();
    let mut figures: Vec<String> = Vec::new();
    for (engine, figure, _) in &noted {
        if !engines.contains(engine) {
            engines.push(engine.clone());
        }
        if !figures.contains(figure) {
            figures.push(figure.clone());
        }
    }
    let width = figures.iter().map(|f| f.len()).max().unwrap_or(0);
    let mut out = format!("{:width$}", "");
    for engine in &engines {
        out.push_str(&format!(" | {engine:>14}"));
    }
    out.push('\n');
    for figure in &figures {
        out.push_str(&format!("{figure:width$}"));
        for engine in &engines {
            let value = noted
                .iter()
                .rev()
                .find(|(e, f, _)| e == engine && f == figure)
                .map_or("-", |(_, _, v)| v.as_str());
            out.push_str(&format!(" | {value:>14}"));
        }
        out.push('\n');
    }
    out
}
