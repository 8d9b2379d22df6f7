//! `edl-verify batch`: one QR text per input line, one JSON line per input line, in the
//! same order, using every core. Input is read in blocks so memory stays bounded; within a
//! block, worker threads take chunks of lines from a shared counter, and the block is
//! written in input order.
//!
//! Each chunk's signatures are checked together (`keys::token::verify_batch`, about three
//! times cheaper per signature than one by one; a bad one is still found and reported on
//! its own line). Status comes from the cached status lists only: a batch of thousands must
//! not make thousands of live queries. Each list is verified once for the whole batch.

use std::io::{self, BufRead, Write};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

use keys::UnixTime;

use crate::check::{self, Trust};
use crate::report;
use crate::verdict::Policy;

/// Lines read and checked per block.
const BLOCK: usize = 16_384;

/// Lines a worker takes at a time, and so the size of a signature batch: large enough that
/// a batch costs about a third of single checks, small enough that two workers share a
/// block evenly.
const CHUNK: usize = 256;

/// Counts of what a batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchSummary {
    /// Lines read.
    pub lines: u64,
    /// Lines that could not be read as text.
    pub errors: u64,
}

/// Checks every line of `input`, writing one JSON object per line to `output`.
pub fn run(
    input: &mut dyn BufRead,
    output: &mut dyn Write,
    trust: &Trust,
    policy: &Policy,
    now: UnixTime,
    threads: NonZeroUsize,
) -> io::Result<BatchSummary> {
    let mut summary = BatchSummary::default();
    let mut block: Vec<Result<String, String>> = Vec::with_capacity(BLOCK);
    let mut raw = Vec::new();
    loop {
        block.clear();
        while block.len() < BLOCK {
            raw.clear();
            if input.read_until(b'\n', &mut raw)? == 0 {
                break;
            }
            while raw.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                raw.pop();
            }
            block.push(
                String::from_utf8(std::mem::take(&mut raw))
                    .map_err(|_| "the line is not UTF-8 text".to_owned()),
            );
        }
        if block.is_empty() {
            return Ok(summary);
        }
        let first_line = summary.lines + 1;
        let lines = check_block(&block, first_line, trust, policy, now, threads);
        for (line, input) in lines.iter().zip(&block) {
            summary.errors += u64::from(input.is_err());
            output.write_all(line.as_bytes())?;
            output.write_all(b"\n")?;
        }
        summary.lines += block.len() as u64;
        output.flush()?;
    }
}

fn check_block(
    block: &[Result<String, String>],
    first_line: u64,
    trust: &Trust,
    policy: &Policy,
    now: UnixTime,
    threads: NonZeroUsize,
) -> Vec<String> {
    // One chunk of lines: the text ones checked together, the others answered as errors.
    let chunk = |start: usize, lines: &[Result<String, String>]| -> Vec<String> {
        let texts: Vec<&str> = lines.iter().filter_map(|l| l.as_deref().ok()).collect();
        let mut verdicts = check::check_texts(&texts, trust, policy, now).into_iter();
        lines
            .iter()
            .enumerate()
            .map(|(i, input)| {
                let line = first_line + (start + i) as u64;
                match input {
                    Err(error) => report::error_json(line, error),
                    Ok(_) => match verdicts.next() {
                        Some(verdict) => {
                            report::to_json(&verdict, policy.max_status_age, Some(line))
                        }
                        // check_texts answers every text: cannot happen.
                        None => report::error_json(line, "not checked"),
                    },
                }
            })
            .collect()
    };
    if threads.get() == 1 || block.len() < 2 * CHUNK {
        return block
            .chunks(CHUNK)
            .enumerate()
            .flat_map(|(n, lines)| chunk(n * CHUNK, lines))
            .collect();
    }
    // Workers take chunks from a shared counter, so a worker slowed down by a busy
    // neighbour on the machine takes fewer, and nobody waits at the end of the block.
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, Vec<String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.get())
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let start = next.fetch_add(CHUNK, Ordering::Relaxed);
                        if start >= block.len() {
                            return mine;
                        }
                        let end = (start + CHUNK).min(block.len());
                        mine.push((start, chunk(start, &block[start..end])));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                // A worker only panics if checking a line panicked, which is a bug; carry
                // the panic on rather than print a partial batch.
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    done.sort_unstable_by_key(|(start, _)| *start);
    done.into_iter().flat_map(|(_, lines)| lines).collect()
}
