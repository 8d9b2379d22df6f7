//! `batch`: one JSON line per input line, in order, in parallel.

use keys::status_list::CredentialStatus;

use crate::support::*;

/// More lines than two signature batches, so both workers get some.
const LINES: u64 = 1100;

#[test]
fn one_line_per_input_in_order() {
    let authority = Authority::new("https://edl.example");
    let terminal = Terminal::new(&authority, None, "");
    let revoked: Vec<_> = (0..LINES)
        .filter(|i| i % 7 == 3)
        .map(|i| (i, CredentialStatus::Invalid))
        .collect();
    terminal.seed_cache(
        &authority,
        1,
        &authority.status_list(&revoked, HOUR),
        NOW.minus(HOUR),
    );
    let mut input = String::new();
    for i in 0..LINES {
        match i {
            100 => input.push_str("not a credential\n"),
            200 => input.push('\n'),
            // A bad signature in the middle of a signature batch is found and reported
            // on its own line, and so is a key the trust list does not name.
            300 => {
                let mut token = keys::token::sign(&authority.claims(i), &authority.credential);
                let last = token.len() - 1;
                token[last] ^= 1;
                input.push_str(&format!("{}\n", keys::qr::encode(&token)));
            }
            301 => {
                let stranger = keys::SigningKey::from_seed(&[9; 32]);
                input.push_str(&format!(
                    "{}\n",
                    authority.qr_signed_by(&authority.claims(i), &stranger)
                ));
            }
            _ => input.push_str(&format!("{}\r\n", authority.qr(&authority.claims(i)))),
        }
    }
    let run = terminal.run_with_stdin(&["batch", "-", "--threads", "2"], NOW, &input);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), LINES as usize);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["line"], i + 1);
        let expected = match i {
            100 | 200 => "malformed",
            300 => "bad_signature",
            301 => "unknown_key",
            _ if i % 7 == 3 => "revoked",
            _ => "",
        };
        assert_eq!(
            line["reason"].as_str().unwrap_or_default(),
            expected,
            "line {}: {line}",
            i + 1
        );
        if expected.is_empty() {
            assert_eq!(line["credential"]["status_list"]["index"], i);
        }
    }
}

#[test]
fn invalid_utf8_yields_an_error_line() {
    let authority = Authority::new("https://edl.example");
    let terminal = Terminal::new(&authority, None, "");
    terminal.seed_cache(
        &authority,
        1,
        &authority.status_list(&[], HOUR),
        NOW.minus(HOUR),
    );
    let file = terminal.dir.path().join("in.txt");
    let mut bytes = authority.qr(&authority.claims(1)).into_bytes();
    bytes.extend_from_slice(b"\n\xff\xfe\n");
    bytes.extend_from_slice(authority.qr(&authority.claims(2)).as_bytes());
    std::fs::write(&file, bytes).unwrap();
    let run = terminal.run(&["batch", file.to_str().unwrap()], NOW);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["verdict"], "valid");
    assert_eq!(
        (lines[1]["line"].as_u64(), lines[1]["error"].is_string()),
        (Some(2), true)
    );
    assert_eq!(lines[2]["verdict"], "valid");
}

#[test]
fn missing_file_is_an_io_error() {
    let authority = Authority::new("https://edl.example");
    let terminal = Terminal::new(&authority, None, "");
    terminal.seed_cache(
        &authority,
        1,
        &authority.status_list(&[], HOUR),
        NOW.minus(HOUR),
    );
    let run = terminal.run(&["batch", "/nonexistent/input.txt"], NOW);
    assert_eq!(run.code, 74, "{run:?}");
}
