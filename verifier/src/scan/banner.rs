//! The verdict in huge letters: a 5-row font for the English words and 16×16 bitmaps of
//! the Chinese ones, drawn with block elements (█ ▀ ▄), which every console font has, so
//! the Chinese verdict reads even where no CJK font is installed.
//!
//! The Chinese bitmaps were rendered once from Droid Sans Fallback (Apache-2.0) at 16 px;
//! one `u16` per row, the leftmost pixel in the top bit.

use crate::verdict::Outcome;

/// The English verdict, five rows high (`#` where the terminal takes no UTF-8).
pub(crate) fn word(outcome: Outcome, utf8: bool) -> Vec<String> {
    let text = match outcome {
        Outcome::Valid => "VALID",
        Outcome::NotValid => "NOT VALID",
        Outcome::Indeterminate => "INDETERMINATE",
    };
    let ink = if utf8 { '█' } else { '#' };
    (0..5)
        .map(|row| {
            let mut line = String::new();
            for letter in text.chars() {
                let glyph = LETTERS
                    .iter()
                    .find(|(l, _)| *l == letter)
                    .map_or(&BLANK, |(_, g)| g);
                line.extend(glyph[row].chars().map(|c| if c == 'X' { ink } else { ' ' }));
                line.push(' ');
            }
            line.trim_end().to_owned()
        })
        .collect()
}

/// The Chinese verdict (有效, 无效, 无法确定), eight rows of half blocks.
pub(crate) fn chinese(outcome: Outcome) -> Vec<String> {
    let text = match outcome {
        Outcome::Valid => "有效",
        Outcome::NotValid => "无效",
        Outcome::Indeterminate => "无法确定",
    };
    let glyphs: Vec<&[u16; 16]> = text
        .chars()
        .filter_map(|c| HANZI.iter().find(|(h, _)| *h == c).map(|(_, g)| g))
        .collect();
    (0..8)
        .map(|pair| {
            let mut line = String::new();
            for glyph in &glyphs {
                let (top, bottom) = (glyph[2 * pair], glyph[2 * pair + 1]);
                for x in (0..16).rev() {
                    line.push(match (top >> x & 1, bottom >> x & 1) {
                        (1, 1) => '█',
                        (1, _) => '▀',
                        (_, 1) => '▄',
                        _ => ' ',
                    });
                }
                line.push_str("  ");
            }
            line.trim_end().to_owned()
        })
        .collect()
}

const BLANK: [&str; 5] = ["   ", "   ", "   ", "   ", "   "];

/// The letters the three verdicts need.
const LETTERS: [(char, [&str; 5]); 12] = [
    ('A', [" XXX ", "X   X", "XXXXX", "X   X", "X   X"]),
    ('D', ["XXXX ", "X   X", "X   X", "X   X", "XXXX "]),
    ('E', ["XXXXX", "X    ", "XXXX ", "X    ", "XXXXX"]),
    ('I', ["XXX", " X ", " X ", " X ", "XXX"]),
    ('L', ["X    ", "X    ", "X    ", "X    ", "XXXXX"]),
    ('M', ["X   X", "XX XX", "X X X", "X   X", "X   X"]),
    ('N', ["X   X", "XX  X", "X X X", "X  XX", "X   X"]),
    ('O', [" XXX ", "X   X", "X   X", "X   X", " XXX "]),
    ('R', ["XXXX ", "X   X", "XXXX ", "X  X ", "X   X"]),
    ('T', ["XXXXX", "  X  ", "  X  ", "  X  ", "  X  "]),
    ('V', ["X   X", "X   X", "X   X", " X X ", "  X  "]),
    (' ', BLANK),
];

/// 有 效 无 法 确 定, 16×16.
const HANZI: [(char, [u16; 16]); 6] = [
    (
        '有',
        [
            0x0000, 0x0300, 0x0300, 0x7ffe, 0x0400, 0x0c00, 0x1ffc, 0x380c, 0x6ffc, 0x0ffc, 0x080c,
            0x0ffc, 0x0c0c, 0x080c, 0x087c, 0x0800,
        ],
    ),
    (
        '效',
        [
            0x0000, 0x1060, 0x1860, 0x7e60, 0x7e7e, 0x26c4, 0x62c4, 0x43cc, 0x24ec, 0x3c28, 0x1838,
            0x1c18, 0x3638, 0x726c, 0x60c6, 0x0000,
        ],
    ),
    (
        '无',
        [
            0x0000, 0x0000, 0x3ffc, 0x0100, 0x0100, 0x0100, 0x7ffe, 0x7ffe, 0x03c0, 0x02c0, 0x06c0,
            0x0cc0, 0x18c2, 0x30c6, 0x60fe, 0x0000,
        ],
    ),
    (
        '法',
        [
            0x0000, 0x2060, 0x3060, 0x1060, 0x03fc, 0x4060, 0x7060, 0x0060, 0x07fe, 0x10c0, 0x3098,
            0x3188, 0x230c, 0x63fc, 0x43c6, 0x0000,
        ],
    ),
    (
        '确',
        [
            0x0000, 0x0040, 0x7ef8, 0x1098, 0x1198, 0x33fe, 0x21b2, 0x7dfe, 0x75fe, 0x75b2, 0x35fe,
            0x35fe, 0x3d32, 0x3f32, 0x333e, 0x0000,
        ],
    ),
    (
        '定',
        [
            0x0000, 0x0180, 0x7ffe, 0x7ffe, 0x6006, 0x1ff8, 0x1ff8, 0x0180, 0x0980, 0x19f8, 0x19f8,
            0x1980, 0x3d80, 0x27e0, 0x61fe, 0x0000,
        ],
    ),
];
