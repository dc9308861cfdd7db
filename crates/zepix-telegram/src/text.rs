//! Message text: splitting at Telegram's 4096-character limit on line boundaries, and the small
//! formatting helpers replies share.

use std::fmt::Display;

/// Telegram's limit for a message's text.
pub const MAX_MESSAGE: usize = 4096;
/// Telegram's limit for a photo's caption.
pub const MAX_CAPTION: usize = 1024;

/// Splits `text` into messages of at most `max` characters, breaking between lines; a single
/// line longer than `max` is cut at `max` characters.
#[must_use]
pub fn split(text: &str, max: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut len = 0;
    for line in text.split('\n') {
        let mut line = line;
        let mut line_len = line.chars().count();
        // The newline that joins it to what is already there.
        let joiner = usize::from(!current.is_empty());
        if len + joiner + line_len > max && !current.is_empty() {
            parts.push(std::mem::take(&mut current));
            len = 0;
        }
        while line_len > max {
            let cut = line.char_indices().nth(max).map_or(line.len(), |(i, _)| i);
            parts.push(line[..cut].to_owned());
            line = &line[cut..];
            line_len -= max;
        }
        if !current.is_empty() {
            current.push('\n');
            len += 1;
        }
        current.push_str(line);
        len += line_len;
    }
    if !current.is_empty() || parts.is_empty() {
        parts.push(current);
    }
    parts
}

/// Cuts `text` to at most `max` characters, ending with `…` when cut.
#[must_use]
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `label` padded to `width`, then `value`: aligned two-column lines.
#[must_use]
pub fn row(label: &str, width: usize, value: impl Display) -> String {
    format!("{label:<width$} {value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_message() {
        assert_eq!(split("a\nb", 4096), ["a\nb"]);
        assert_eq!(split("", 4096), [""]);
    }

    #[test]
    fn long_text_splits_between_lines() {
        let line = "x".repeat(100);
        let text = vec![line.as_str(); 100].join("\n");
        let parts = split(&text, MAX_MESSAGE);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_MESSAGE));
        assert!(parts.iter().all(|p| p.split('\n').all(|l| l == line)), "no line is broken");
        assert_eq!(parts.join("\n"), text, "nothing is lost");
    }

    #[test]
    fn a_line_longer_than_the_limit_is_cut() {
        let text = format!("head\n{}\ntail", "é".repeat(10));
        let parts = split(&text, 4);
        assert_eq!(parts, ["head", "éééé", "éééé", "éé", "tail"]);
    }

    #[test]
    fn exactly_the_limit_fits() {
        let text = format!("{}\n{}", "a".repeat(2), "b".repeat(2));
        assert_eq!(split(&text, 5), ["aa\nbb"]);
        assert_eq!(split(&text, 4), ["aa", "bb"]);
    }

    #[test]
    fn truncate_marks_the_cut() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
