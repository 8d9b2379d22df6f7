use super::*;

fn spec_file(text: &str) -> SpecFile {
    SpecFile {
        path: PathBuf::from("spec.toml"),
        text: text.to_owned(),
        spec: parse(text).unwrap(),
    }
}

const KID: KeyId = KeyId([0xab; 8]);

#[test]
fn edits_keep_comments_and_other_values() {
    let text = "\
# Kept.
issuer = \"https://dl.example.gov\" # also kept
sequence = 41 # the sequence
next_update = 2030-01-01T00:00:00Z
status_lists = []

[[keys]]
# The first key.
path = \"a.pub\"
use = \"credential\"
not_before = \"2025-01-01T00:00:00Z\"
";
    let file = spec_file(text);
    let mut document = file.document().unwrap();
    document.set_sequence(file.next_sequence().unwrap());
    document.set_not_after(0, UnixTime(1_767_225_600));
    document.set_revoked(0);
    document.push_key(
        "b.pub",
        KID,
        KeyUse::Status,
        UnixTime(1_767_225_600),
        "added",
    );
    let edited = document.render();
    assert!(
        edited.starts_with("# Kept.\nissuer = \"https://dl.example.gov\" # also kept\n"),
        "{edited}"
    );
    assert!(
        edited.contains("sequence = 42 # the sequence\n"),
        "{edited}"
    );
    assert!(
        edited.contains("# The first key.\npath = \"a.pub\"\n"),
        "{edited}"
    );
    assert!(
        edited.contains("not_after = 2026-01-01T00:00:00Z\n"),
        "{edited}"
    );
    assert!(edited.contains("revoked = true\n"), "{edited}");
    assert!(
        edited.ends_with(
            "\n# added\n[[keys]]\npath = \"b.pub\"\nkid = \"abababababababab\"\nuse = \"status\"\n\
             not_before = 2026-01-01T00:00:00Z\n"
        ),
        "{edited}"
    );
    let spec = parse(&edited).unwrap();
    assert_eq!(spec.sequence, 42);
    assert_eq!(spec.next_update, Moment::At(UnixTime(1_893_456_000)));
    assert_eq!(spec.keys.len(), 2);
    assert!(spec.keys[0].revoked);
    assert_eq!(spec.keys[0].end(), UnixTime(1_767_225_600));
    assert_eq!(spec.keys[1].kid, Some(KID));
    assert_eq!(spec.keys[1].end(), OPEN_ENDED);
}

#[test]
fn a_spec_without_keys_or_with_inline_keys_can_be_edited() {
    for text in [
        "issuer = \"x\"\nsequence = 1\nnext_update = \"7d\"\n",
        "issuer = \"x\"\nsequence = 1\nnext_update = \"7d\"\n\
         keys = [{ path = \"a.pub\", use = \"credential\", not_before = 2025-01-01T00:00:00Z }]\n",
    ] {
        let file = spec_file(text);
        let before = file.spec.keys.len();
        let mut document = file.document().unwrap();
        document.push_key("b.pub", KID, KeyUse::Credential, UnixTime(0), "added");
        let spec = parse(&document.render()).unwrap();
        assert_eq!(spec.keys.len(), before + 1, "{}", document.render());
        assert_eq!(spec.keys[before].path, PathBuf::from("b.pub"));
        assert_eq!(spec.next_update, Moment::After(7 * 86_400));
    }
}

#[test]
fn active_keys() {
    let file = spec_file(
        "issuer = \"x\"\nsequence = 1\nnext_update = \"7d\"\n\
         [[keys]]\npath = \"a\"\nuse = \"status\"\nnot_before = 2025-01-01T00:00:00Z\nnot_after = 2026-01-01T00:00:00Z\n",
    );
    let key = &file.spec.keys[0];
    assert!(!key.is_active(UnixTime(1_735_689_599)), "before");
    assert!(key.is_active(UnixTime(1_735_689_600)));
    assert!(
        key.is_active(UnixTime(1_767_225_600)),
        "the end is inclusive"
    );
    assert!(!key.is_active(UnixTime(1_767_225_601)), "after");
}
