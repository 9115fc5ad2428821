//! The oslo.policy rule language: tokenizer, shift-reduce parser and the
//! [`Check`] tree it produces.
//!
//! The grammar and its quirks follow oslo.policy 6.x exactly:
//!
//! * the check string is split on whitespace; leading `(` and trailing `)`
//!   of each word become parenthesis tokens, so `(role:a` and `role:a)` work
//!   but a parenthesis in the middle of a word belongs to the check itself
//!   (`project_id:%(project_id)s`);
//! * `and`, `or` and `not` are keywords (case-insensitive);
//! * `and` binds tighter than `or`; `not` applies to the check right after it
//!   (or a parenthesised group);
//! * a word is a check: `@` (always), `!` (never) or `KIND:MATCH`
//!   (`rule:NAME`, `role:NAME` or a generic attribute check);
//! * the empty string means "always"; any string that does not reduce to a
//!   single check (for example `role:a and`, `(role:a`, a lone quoted word or
//!   only whitespace) is a parse error, which oslo evaluates as "never".
//!
//! A single word without a `:` (or of an unsupported kind such as `http:`)
//! does not make the whole rule fail in oslo: only that word becomes a
//! "never" check. [`parse_lenient`] reproduces that; [`parse`] reports it as
//! an error.

use std::fmt;

/// A parsed policy check tree (oslo.policy's `BaseCheck` hierarchy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `@` or the empty rule: always passes.
    True,
    /// `!` (or anything unparseable): never passes.
    False,
    /// `not X`.
    Not(Box<Check>),
    /// `A and B and ...`: every check must pass.
    And(Vec<Check>),
    /// `A or B or ...`: at least one check must pass.
    Or(Vec<Check>),
    /// `rule:NAME`: evaluate another rule by name; a missing rule fails.
    Rule(String),
    /// `role:NAME`: the credentials hold the role (case-insensitive).
    /// `NAME` may contain `%(key)s` substitutions from the target.
    Role(String),
    /// `KIND:MATCH`: `MATCH` (after `%(key)s` substitution from the target)
    /// equals the credential attribute at the dotted path `KIND`, or the
    /// Python literal `KIND` (`True`, `'text'`, `42`, ...).
    Generic { kind: String, matcher: String },
}

impl fmt::Display for Check {
    /// Renders the check the way oslo.policy's `str()` does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::True => f.write_str("@"),
            Check::False => f.write_str("!"),
            Check::Not(c) => write!(f, "not {c}"),
            Check::And(v) => write_joined(f, v, " and "),
            Check::Or(v) => write_joined(f, v, " or "),
            Check::Rule(n) => write!(f, "rule:{n}"),
            Check::Role(n) => write!(f, "role:{n}"),
            Check::Generic { kind, matcher } => write!(f, "{kind}:{matcher}"),
        }
    }
}

fn write_joined(f: &mut fmt::Formatter<'_>, v: &[Check], sep: &str) -> fmt::Result {
    f.write_str("(")?;
    for (i, c) in v.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{c}")?;
    }
    f.write_str(")")
}

/// Why a check string could not be (fully) understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The tokens do not reduce to a single expression.
    #[error("could not parse rule {0:?}")]
    Structure(String),
    /// A word that is neither `@`, `!` nor `KIND:MATCH`.
    #[error("check {0:?} has no 'kind:' prefix")]
    MissingKind(String),
    /// A check kind that needs an oslo.policy extension (`http`, `https`).
    #[error("check kind {0:?} is not supported")]
    UnsupportedKind(String),
}

/// Parses a check string strictly: any problem is an error.
pub fn parse(rule: &str) -> Result<Check, ParseError> {
    let (check, mut errors) = parse_lenient(rule);
    if errors.is_empty() {
        Ok(check)
    } else {
        Err(errors.swap_remove(0))
    }
}

/// Parses a check string the way oslo.policy does at run time: problems do
/// not fail, they become [`Check::False`] (the whole rule for a structural
/// error, the single word for a bad check), and are returned alongside.
pub fn parse_lenient(rule: &str) -> (Check, Vec<ParseError>) {
    if rule.is_empty() {
        return (Check::True, Vec::new());
    }
    let mut errors = Vec::new();
    let mut state: Vec<Tok> = Vec::new();
    for tok in tokenize(rule, &mut errors) {
        state.push(tok);
        reduce(&mut state);
    }
    if state.len() == 1 {
        match state.pop() {
            Some(Tok::Check(c)) => return (c, errors),
            Some(Tok::AndExpr(v)) => return (Check::And(v), errors),
            Some(Tok::OrExpr(v)) => return (Check::Or(v), errors),
            _ => {}
        }
    }
    errors.insert(0, ParseError::Structure(rule.to_string()));
    (Check::False, errors)
}

/// Parses a single word (no operators) into a check, as oslo's
/// `_parse_check` does. Used for words of the rule language and for the
/// legacy list-of-lists policy syntax.
pub(crate) fn parse_atom(word: &str, errors: &mut Vec<ParseError>) -> Check {
    match word {
        "!" => return Check::False,
        "@" => return Check::True,
        _ => {}
    }
    let Some((kind, matcher)) = word.split_once(':') else {
        errors.push(ParseError::MissingKind(word.to_string()));
        return Check::False;
    };
    match kind {
        "rule" => Check::Rule(matcher.to_string()),
        "role" => Check::Role(matcher.to_string()),
        "http" | "https" => {
            errors.push(ParseError::UnsupportedKind(kind.to_string()));
            Check::False
        }
        _ => Check::Generic { kind: kind.to_string(), matcher: matcher.to_string() },
    }
}

#[derive(Debug)]
enum Tok {
    Check(Check),
    AndExpr(Vec<Check>),
    OrExpr(Vec<Check>),
    And,
    Or,
    Not,
    LParen,
    RParen,
    /// A quoted word; oslo tokenizes it but no reduction accepts it.
    Str,
}

fn tokenize(rule: &str, errors: &mut Vec<ParseError>) -> Vec<Tok> {
    let mut out = Vec::new();
    for word in rule.split(char::is_whitespace) {
        if word.is_empty() {
            continue;
        }
        let clean = word.trim_start_matches('(');
        out.extend((0..word.len() - clean.len()).map(|_| Tok::LParen));
        if clean.is_empty() {
            continue;
        }
        let tok = clean;
        let clean = tok.trim_end_matches(')');
        let trail = tok.len() - clean.len();
        let lowered = clean.to_lowercase();
        match lowered.as_str() {
            "and" => out.push(Tok::And),
            "or" => out.push(Tok::Or),
            "not" => out.push(Tok::Not),
            _ if !clean.is_empty() => {
                // Note: like oslo, the quote test looks at the word before
                // its trailing parentheses were removed.
                let b = tok.as_bytes();
                if b.len() >= 2
                    && ((b[0] == b'"' && b[b.len() - 1] == b'"') || (b[0] == b'\'' && b[b.len() - 1] == b'\''))
                {
                    out.push(Tok::Str);
                } else {
                    out.push(Tok::Check(parse_atom(clean, errors)));
                }
            }
            _ => {}
        }
        out.extend((0..trail).map(|_| Tok::RParen));
    }
    out
}

/// Greedy reduction of the top of the stack (oslo's `ParseState.reduce`).
fn reduce(stack: &mut Vec<Tok>) {
    loop {
        let n = stack.len();
        if n >= 3 && reduce3(stack) {
            continue;
        }
        if n >= 2 && matches!((&stack[n - 2], &stack[n - 1]), (Tok::Not, Tok::Check(_))) {
            let Some(Tok::Check(c)) = stack.pop() else { unreachable!() };
            stack.pop();
            stack.push(Tok::Check(Check::Not(Box::new(c))));
            continue;
        }
        break;
    }
}

fn reduce3(stack: &mut Vec<Tok>) -> bool {
    use Tok::*;
    let n = stack.len();
    let pattern = match (&stack[n - 3], &stack[n - 2], &stack[n - 1]) {
        (LParen, Check(_) | AndExpr(_) | OrExpr(_), RParen) => 0,
        (Check(_), And, Check(_)) => 1,
        (AndExpr(_), And, Check(_)) => 2,
        (OrExpr(_), And, Check(_)) => 3,
        (Check(_) | AndExpr(_), Or, Check(_)) => 4,
        (OrExpr(_), Or, Check(_)) => 5,
        _ => return false,
    };
    let c = stack.pop().expect("len >= 3");
    let b = stack.pop().expect("len >= 2");
    let a = stack.pop().expect("len >= 1");
    let reduced = match (pattern, a, b, c) {
        (0, _, mid, _) => Check(tok_into_check(mid)),
        (1, Check(x), _, Check(y)) => AndExpr(vec![x, y]),
        (2, AndExpr(mut v), _, Check(y)) => {
            v.push(y);
            AndExpr(v)
        }
        (3, OrExpr(mut v), _, Check(y)) => {
            // `a or b and c`: `and` binds tighter, so it takes the last
            // operand of the `or`.
            let last = v.pop().expect("an or-expression has operands");
            let and = match last {
                self::Check::And(mut inner) => {
                    inner.push(y);
                    self::Check::And(inner)
                }
                other => self::Check::And(vec![other, y]),
            };
            v.push(and);
            OrExpr(v)
        }
        (4, x, _, Check(y)) => OrExpr(vec![tok_into_check(x), y]),
        (5, OrExpr(mut v), _, Check(y)) => {
            v.push(y);
            OrExpr(v)
        }
        _ => unreachable!("pattern and tokens agree"),
    };
    stack.push(reduced);
    true
}

fn tok_into_check(t: Tok) -> Check {
    match t {
        Tok::Check(c) => c,
        Tok::AndExpr(v) => Check::And(v),
        Tok::OrExpr(v) => Check::Or(v),
        _ => unreachable!("only expression tokens are converted"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(s: &str) -> Check {
        Check::Role(s.into())
    }

    fn p(s: &str) -> Check {
        parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn atoms() {
        assert_eq!(p(""), Check::True);
        assert_eq!(p("@"), Check::True);
        assert_eq!(p("!"), Check::False);
        assert_eq!(p("role:admin"), role("admin"));
        assert_eq!(p("rule:admin_api"), Check::Rule("admin_api".into()));
        assert_eq!(
            p("project_id:%(project_id)s"),
            Check::Generic { kind: "project_id".into(), matcher: "%(project_id)s".into() }
        );
        // Only the first colon separates kind from match.
        assert_eq!(p("role:compute:admin"), role("compute:admin"));
        assert_eq!(
            p("'Member':%(role.name)s"),
            Check::Generic { kind: "'Member'".into(), matcher: "%(role.name)s".into() }
        );
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let (a, b, c, d) = (role("a"), role("b"), role("c"), role("d"));
        assert_eq!(
            p("role:a or role:b and role:c"),
            Check::Or(vec![a.clone(), Check::And(vec![b.clone(), c.clone()])])
        );
        assert_eq!(
            p("role:a and role:b or role:c"),
            Check::Or(vec![Check::And(vec![a.clone(), b.clone()]), c.clone()])
        );
        assert_eq!(
            p("role:a or role:b and role:c and role:d"),
            Check::Or(vec![a.clone(), Check::And(vec![b.clone(), c.clone(), d.clone()])])
        );
        assert_eq!(
            p("role:a and role:b or role:c and role:d"),
            Check::Or(vec![Check::And(vec![a.clone(), b.clone()]), Check::And(vec![c.clone(), d.clone()])])
        );
        assert_eq!(p("role:a or role:b or role:c"), Check::Or(vec![a.clone(), b.clone(), c.clone()]));
        assert_eq!(p("role:a and role:b and role:c"), Check::And(vec![a, b, c]));
    }

    #[test]
    fn parentheses_and_not() {
        let (a, b, c) = (role("a"), role("b"), role("c"));
        assert_eq!(
            p("(role:a or role:b) and role:c"),
            Check::And(vec![Check::Or(vec![a.clone(), b.clone()]), c.clone()])
        );
        assert_eq!(
            p("role:a or (role:b or role:c) and role:a"),
            Check::Or(vec![a.clone(), Check::And(vec![Check::Or(vec![b.clone(), c.clone()]), a.clone()])])
        );
        assert_eq!(p("((role:a))"), a.clone());
        assert_eq!(p("not role:a and role:b"), Check::And(vec![Check::Not(Box::new(a.clone())), b.clone()]));
        assert_eq!(p("role:a and not role:b"), Check::And(vec![a.clone(), Check::Not(Box::new(b.clone()))]));
        assert_eq!(p("not (role:a or role:b)"), Check::Not(Box::new(Check::Or(vec![a.clone(), b.clone()]))));
        assert_eq!(p("not not role:a"), Check::Not(Box::new(Check::Not(Box::new(a.clone())))));
        // Keywords are case-insensitive; whitespace of any kind separates.
        assert_eq!(p("role:a\tOR\n role:b"), Check::Or(vec![a.clone(), b.clone()]));
        assert_eq!(p("NOT role:a"), Check::Not(Box::new(a)));
        // A parenthesis inside a word belongs to the check.
        assert_eq!(
            p("(project_id:%(project_id)s)"),
            Check::Generic { kind: "project_id".into(), matcher: "%(project_id)s".into() }
        );
    }

    #[test]
    fn structural_errors() {
        for bad in [
            "role:a and",
            "or role:a",
            "(role:a",
            "role:a)",
            "role:a role:b",
            "not",
            "()",
            "   ",
            "'quoted'",
            "role:a and 'x'",
            "and",
        ] {
            assert!(matches!(parse(bad), Err(ParseError::Structure(_))), "{bad:?} -> {:?}", parse(bad));
            assert_eq!(parse_lenient(bad).0, Check::False, "{bad:?}");
        }
    }

    #[test]
    fn bad_words_only_poison_themselves() {
        assert_eq!(parse("admin"), Err(ParseError::MissingKind("admin".into())));
        assert_eq!(parse("http:example.com"), Err(ParseError::UnsupportedKind("http".into())));
        // oslo keeps the rest of the expression.
        let (c, errs) = parse_lenient("role:admin or admin");
        assert_eq!(c, Check::Or(vec![role("admin"), Check::False]));
        assert_eq!(errs, vec![ParseError::MissingKind("admin".into())]);
    }

    #[test]
    fn display_round_trips() {
        for s in ["role:a or role:b and not role:c", "(role:a or rule:x) and project_id:%(project_id)s", "@", "!"] {
            let c = p(s);
            assert_eq!(p(&c.to_string()), c, "{s}");
        }
        assert_eq!(p("role:a or role:b").to_string(), "(role:a or role:b)");
    }
}
