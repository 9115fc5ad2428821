//! Where and why Python's `json.loads` (CPython's C scanner) refuses a
//! document, in its words: upstream answers a malformed body with
//! `Malformed JSON: <that message>`.

/// Python's error for `text`, or `None` when Python would accept it (or
/// nests deeper than [`MAX_DEPTH`], where Python gives up with a
/// `RecursionError` instead).
pub fn python_json_error(text: &str) -> Option<String> {
    let s: Vec<char> = text.chars().collect();
    let err = |msg: &str, pos: usize| -> Option<String> {
        let before = &s[..pos.min(s.len())];
        let line = before.iter().filter(|c| **c == '\n').count() + 1;
        let col = match before.iter().rposition(|c| *c == '\n') {
            Some(nl) => pos - nl,
            None => pos + 1,
        };
        Some(format!("{msg}: line {line} column {col} (char {pos})"))
    };
    let start = skip_ws(&s, 0);
    match scan(&s, start, 0) {
        Err(Fail::TooDeep) => None,
        Err(Fail::Stop(pos)) => err("Expecting value", pos),
        Err(Fail::Msg(msg, pos)) => err(msg, pos),
        Ok(end) => {
            let end = skip_ws(&s, end);
            if end != s.len() {
                err("Extra data", end)
            } else {
                None
            }
        }
    }
}

enum Fail {
    /// No value starts here (Python's `StopIteration`).
    Stop(usize),
    Msg(&'static str, usize),
    TooDeep,
}

/// Deepest nesting examined.
pub const MAX_DEPTH: usize = 512;

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn skip_ws(s: &[char], mut i: usize) -> usize {
    while i < s.len() && is_ws(s[i]) {
        i += 1;
    }
    i
}

fn starts(s: &[char], i: usize, word: &str) -> bool {
    word.chars().enumerate().all(|(k, c)| s.get(i + k) == Some(&c))
}

/// One value at `i`; the index after it.
fn scan(s: &[char], i: usize, depth: usize) -> Result<usize, Fail> {
    if depth > MAX_DEPTH {
        return Err(Fail::TooDeep);
    }
    let Some(&c) = s.get(i) else { return Err(Fail::Stop(i)) };
    match c {
        '"' => string(s, i + 1),
        '{' => object(s, i + 1, depth + 1),
        '[' => array(s, i + 1, depth + 1),
        'n' if starts(s, i, "null") => Ok(i + 4),
        't' if starts(s, i, "true") => Ok(i + 4),
        'f' if starts(s, i, "false") => Ok(i + 5),
        'N' if starts(s, i, "NaN") => Ok(i + 3),
        'I' if starts(s, i, "Infinity") => Ok(i + 8),
        '-' if starts(s, i, "-Infinity") => Ok(i + 9),
        '-' | '0'..='9' => number(s, i),
        _ => Err(Fail::Stop(i)),
    }
}

fn number(s: &[char], start: usize) -> Result<usize, Fail> {
    let digit = |i: usize| s.get(i).is_some_and(|c| c.is_ascii_digit());
    let mut i = start;
    if s[i] == '-' {
        i += 1;
    }
    if !digit(i) {
        return Err(Fail::Stop(start));
    }
    if s[i] == '0' {
        i += 1;
    } else {
        while digit(i) {
            i += 1;
        }
    }
    if s.get(i) == Some(&'.') && digit(i + 1) {
        i += 1;
        while digit(i) {
            i += 1;
        }
    }
    if matches!(s.get(i), Some('e') | Some('E')) {
        let mut j = i + 1;
        if matches!(s.get(j), Some('+') | Some('-')) {
            j += 1;
        }
        if digit(j) {
            while digit(j) {
                j += 1;
            }
            i = j;
        }
    }
    Ok(i)
}

/// A string whose opening quote is at `i - 1`.
fn string(s: &[char], i: usize) -> Result<usize, Fail> {
    let begin = i - 1;
    let mut j = i;
    loop {
        let Some(&c) = s.get(j) else { return Err(Fail::Msg("Unterminated string starting at", begin)) };
        match c {
            '"' => return Ok(j + 1),
            '\\' => {
                let Some(&e) = s.get(j + 1) else { return Err(Fail::Msg("Unterminated string starting at", begin)) };
                if e == 'u' {
                    let hex = j + 2;
                    if hex + 4 >= s.len() || !(hex..hex + 4).all(|k| s[k].is_ascii_hexdigit()) {
                        return Err(Fail::Msg("Invalid \\uXXXX escape", j + 1));
                    }
                    j = hex + 4;
                } else if matches!(e, '"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't') {
                    j += 2;
                } else {
                    return Err(Fail::Msg("Invalid \\escape", j));
                }
            }
            c if (c as u32) < 0x20 => return Err(Fail::Msg("Invalid control character at", j)),
            _ => j += 1,
        }
    }
}

fn object(s: &[char], i: usize, depth: usize) -> Result<usize, Fail> {
    let mut i = skip_ws(s, i);
    if s.get(i) == Some(&'}') {
        return Ok(i + 1);
    }
    loop {
        if s.get(i) != Some(&'"') {
            return Err(Fail::Msg("Expecting property name enclosed in double quotes", i));
        }
        i = skip_ws(s, string(s, i + 1)?);
        if s.get(i) != Some(&':') {
            return Err(Fail::Msg("Expecting ':' delimiter", i));
        }
        i = skip_ws(s, scan(s, skip_ws(s, i + 1), depth)?);
        match s.get(i) {
            Some('}') => return Ok(i + 1),
            Some(',') => i = skip_ws(s, i + 1),
            _ => return Err(Fail::Msg("Expecting ',' delimiter", i)),
        }
    }
}

fn array(s: &[char], i: usize, depth: usize) -> Result<usize, Fail> {
    let mut i = skip_ws(s, i);
    if s.get(i) == Some(&']') {
        return Ok(i + 1);
    }
    loop {
        i = skip_ws(s, scan(s, i, depth)?);
        match s.get(i) {
            Some(']') => return Ok(i + 1),
            Some(',') => i = skip_ws(s, i + 1),
            _ => return Err(Fail::Msg("Expecting ',' delimiter", i)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::python_json_error as e;

    #[test]
    fn python_words_and_positions() {
        // As CPython 3.11's json.loads reports them.
        assert_eq!(e("").unwrap(), "Expecting value: line 1 column 1 (char 0)");
        assert_eq!(e("{").unwrap(), "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)");
        assert_eq!(e("{\"a\" 1}").unwrap(), "Expecting ':' delimiter: line 1 column 6 (char 5)");
        assert_eq!(e("{\"a\": 1 \"b\"}").unwrap(), "Expecting ',' delimiter: line 1 column 9 (char 8)");
        assert_eq!(e("[1,]").unwrap(), "Expecting value: line 1 column 4 (char 3)");
        assert_eq!(e("{}\n x").unwrap(), "Extra data: line 2 column 2 (char 4)");
        assert_eq!(e("\"abc").unwrap(), "Unterminated string starting at: line 1 column 1 (char 0)");
        assert_eq!(e("\"a\\qb\"").unwrap(), "Invalid \\escape: line 1 column 3 (char 2)");
        assert_eq!(e("{\"a\": tru}").unwrap(), "Expecting value: line 1 column 7 (char 6)");
        assert_eq!(e(" {\"a\": [1, 2.5e3, null, \"\\u00e9\"]} "), None);
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(99_999));
        assert_eq!(e(&deep), None, "too deep to examine: no stack overflow");
    }
}
