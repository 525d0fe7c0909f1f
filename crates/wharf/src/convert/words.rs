//! The words of an instruction as BuildKit reads them: split on whitespace
//! outside quotes, then each word's quotes and escapes removed and its
//! `$VAR`, `${VAR}` and `${VAR:-default}` replaced (what BuildKit's
//! `shell.Lex` does to the arguments of FROM, COPY, ADD, ENV, ARG, LABEL,
//! WORKDIR, EXPOSE…; CMD, ENTRYPOINT and RUN are left to the shell).

/// A word after Docker's processing.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Word {
    /// Its text, quotes removed and variables replaced.
    pub text: String,
    /// The variables it named that have no value (they expand to nothing,
    /// as in Docker), for a warning.
    pub unset: Vec<String>,
}

/// Splits `rest` into words at whitespace outside quotes, keeping quotes
/// and escapes for [`process`] (BuildKit's `parseWords`).
pub(super) fn split(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // Whether the word may be empty (it had quotes: `A=""`).
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if in_word && (blank_ok || !word.is_empty()) {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                in_word = false;
            }
            None => {
                in_word = true;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    blank_ok = true;
                }
                word.push(c);
                if c == escape {
                    // The escape and the character it escapes, whatever
                    // it is, stay together; one at the very end is dropped.
                    match chars.next() {
                        Some(next) => word.push(next),
                        None => {
                            word.pop();
                        }
                    }
                }
            }
            Some(q) => {
                word.push(c);
                if c == q {
                    quote = None;
                } else if c == escape && q != '\'' {
                    match chars.next() {
                        Some(next) => word.push(next),
                        None => {
                            word.pop();
                        }
                    }
                }
            }
        }
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// Removes the quotes and escapes of `word` and replaces its variables
/// with what `lookup` gives (no value: the empty string, as Docker does).
///
/// Supports `$NAME`, `${NAME}`, and `${NAME:-word}`, `${NAME-word}`,
/// `${NAME:+word}`, `${NAME+word}`, `${NAME:?message}`, `${NAME?message}`
/// (whose `word` is processed the same way). Errors say what could not be
/// read: an unterminated quote or `${`, or a form that is not translated
/// (`${NAME#pattern}` and the other pattern operations).
pub(super) fn process(
    word: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Word, String> {
    let mut lexer = Lexer {
        chars: word.chars().peekable(),
        escape,
        lookup,
        unset: Vec::new(),
    };
    let text = lexer.until(None)?;
    let mut unset = lexer.unset;
    unset.dedup();
    Ok(Word { text, unset })
}

struct Lexer<'w, 'l> {
    chars: std::iter::Peekable<std::str::Chars<'w>>,
    escape: char,
    lookup: &'l dyn Fn(&str) -> Option<String>,
    unset: Vec<String>,
}

impl Lexer<'_, '_> {
    /// Reads up to `stop` (outside quotes), or to the end.
    fn until(&mut self, stop: Option<char>) -> Result<String, String> {
        let mut out = String::new();
        loop {
            let Some(c) = self.chars.next() else {
                return match stop {
                    Some(stop) => Err(format!("no `{stop}` closes a `${{`")),
                    None => Ok(out),
                };
            };
            if Some(c) == stop {
                return Ok(out);
            }
            match c {
                '\'' => loop {
                    match self.chars.next() {
                        Some('\'') => break,
                        Some(c) => out.push(c),
                        None => return Err("a single quote is not closed".into()),
                    }
                },
                '"' => self.double_quoted(&mut out)?,
                '$' => out.push_str(&self.dollar()?),
                c if c == self.escape => {
                    if let Some(next) = self.chars.next() {
                        out.push(next);
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self, out: &mut String) -> Result<(), String> {
        loop {
            match self.chars.next() {
                Some('"') => return Ok(()),
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) if c == self.escape => match self.chars.peek() {
                    Some(&next) if next == '"' || next == '$' || next == self.escape => {
                        out.push(next);
                        self.chars.next();
                    }
                    // Other escapes stay as written, as in Docker.
                    Some(_) => out.push(c),
                    None => {}
                },
                Some(c) => out.push(c),
                None => return Err("a double quote is not closed".into()),
            }
        }
    }

    /// A name after `$`: a run of digits, or of letters, digits and `_`.
    fn name(&mut self) -> String {
        let mut name = String::new();
        if self.chars.peek().is_some_and(char::is_ascii_digit) {
            while let Some(&c) = self.chars.peek().filter(|c| c.is_ascii_digit()) {
                name.push(c);
                self.chars.next();
            }
            return name;
        }
        while let Some(&c) = self
            .chars
            .peek()
            .filter(|c| c.is_alphanumeric() || **c == '_')
        {
            name.push(c);
            self.chars.next();
        }
        name
    }

    fn value(&mut self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    fn dollar(&mut self) -> Result<String, String> {
        if self.chars.peek() != Some(&'{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.plain(&name));
        }
        self.chars.next();
        let name = self.name();
        if name.is_empty() {
            return Err("`${` is not followed by a variable name".into());
        }
        let colon = self.chars.peek() == Some(&':');
        if colon {
            self.chars.next();
        }
        match self.chars.next() {
            Some('}') if !colon => Ok(self.plain(&name)),
            Some(operator @ ('-' | '+' | '?')) => {
                let word = self.until(Some('}'))?;
                let value = self.value(&name);
                let empty = match &value {
                    None => true,
                    Some(v) => colon && v.is_empty(),
                };
                match operator {
                    '-' if empty => Ok(word),
                    '-' => Ok(value.unwrap_or_default()),
                    '+' if empty => Ok(String::new()),
                    '+' => Ok(word),
                    _ if empty => Err(format!(
                        "`${{{name}:?…}}` stops the build when `{name}` has no value, and it has none here{}",
                        if word.is_empty() {
                            String::new()
                        } else {
                            format!(" ({word})")
                        }
                    )),
                    _ => Ok(value.unwrap_or_default()),
                }
            }
            Some(c @ ('#' | '%' | '/')) => Err(format!(
                "`${{{name}{}{c}…}}` (a pattern operation on a variable) is not translated: write the value out",
                if colon { ":" } else { "" }
            )),
            Some(c) => Err(format!("`${{{name}{c}` is not a substitution Docker knows")),
            None => Err(format!("`${{{name}` is not closed by `}}`")),
        }
    }

    /// `$NAME` or `${NAME}`.
    fn plain(&mut self, name: &str) -> String {
        match self.value(name) {
            Some(value) => value,
            None => {
                self.unset.push(name.to_owned());
                String::new()
            }
        }
    }
}

/// Joins the physical lines of a shell-form command (kept as written by
/// the parser): a line ending in the escape character (then maybe blanks)
/// continues on the next, and comment or blank lines inside a continuation
/// are dropped, as Docker does.
pub(super) fn join_lines(raw: &str, escape: char) -> String {
    let mut out = String::new();
    let mut continuing = false;
    for line in raw.lines() {
        let trimmed = line.trim_start();
        if continuing && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        let end = line.trim_end_matches([' ', '\t']);
        match end.strip_suffix(escape) {
            Some(body) => {
                out.push_str(body);
                continuing = true;
            }
            None => {
                if !out.is_empty() && !continuing {
                    out.push('\n');
                }
                out.push_str(line);
                continuing = false;
            }
        }
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "APP" => Some("demo".into()),
            "EMPTY" => Some(String::new()),
            "V" => Some("3.11".into()),
            _ => None,
        }
    }

    fn p(word: &str) -> String {
        process(word, '\\', &vars).unwrap().text
    }

    #[test]
    fn words_split_at_whitespace_outside_quotes() {
        assert_eq!(
            split(r#"A=1 B="x y"  C='a b' D=\ e"#, '\\'),
            ["A=1", r#"B="x y""#, "C='a b'", r"D=\ e"]
        );
        assert_eq!(split(r#"A="""#, '\\'), [r#"A="""#]);
        assert_eq!(split("  ", '\\'), Vec::<String>::new());
        assert_eq!(split(r#"a\"b c"#, '\\'), [r#"a\"b"#, "c"]);
        assert_eq!(split("a`\"b c", '`'), ["a`\"b", "c"]);
    }

    #[test]
    fn quotes_and_escapes_are_removed() {
        assert_eq!(p(r#""x y""#), "x y");
        assert_eq!(p("'$APP'"), "$APP");
        assert_eq!(p(r"a\ b"), "a b");
        assert_eq!(p(r#""a\"b\$c\d""#), r#"a"b$c\d"#);
        assert_eq!(p("100%"), "100%");
    }

    #[test]
    fn variables_are_replaced_in_every_form() {
        assert_eq!(p("$APP/x"), "demo/x");
        assert_eq!(p("${APP}x"), "demox");
        assert_eq!(p(r#""$APP""#), "demo");
        assert_eq!(p("python:${V}-slim"), "python:3.11-slim");
        assert_eq!(p("${NONE:-fallback}"), "fallback");
        assert_eq!(p("${EMPTY:-fallback}"), "fallback");
        assert_eq!(p("${EMPTY-fallback}"), "");
        assert_eq!(p("${NONE-$APP}"), "demo");
        assert_eq!(p("${APP:+set}"), "set");
        assert_eq!(p("${NONE:+set}"), "");
        assert_eq!(p("${EMPTY+set}"), "set");
        assert_eq!(p("${APP:?needed}"), "demo");
        assert_eq!(p("cost: $"), "cost: $");
        assert_eq!(p("$1x"), "x");
    }

    #[test]
    fn unset_variables_expand_to_nothing_and_are_named() {
        let word = process("/opt/$NONE/${ALSO}", '\\', &vars).unwrap();
        assert_eq!(word.text, "/opt//");
        assert_eq!(word.unset, ["NONE", "ALSO"]);
        // A default says the author expected it unset.
        assert!(process("${NONE:-x}", '\\', &vars).unwrap().unset.is_empty());
    }

    #[test]
    fn what_cannot_be_read_is_an_error_saying_why() {
        let err = |w: &str| process(w, '\\', &vars).unwrap_err();
        assert!(err("'open").contains("single quote"));
        assert!(err("\"open").contains("double quote"));
        assert!(err("${APP").contains("not closed"));
        assert!(err("${APP#de}").contains("pattern operation"));
        assert!(err("${NONE:?set NONE}").contains("set NONE"));
        assert!(err("${}").contains("variable name"));
    }

    #[test]
    fn the_escape_directive_changes_the_escape_character() {
        let word = process(r"C:\app` x", '`', &vars).unwrap();
        assert_eq!(word.text, r"C:\app x");
    }

    #[test]
    fn continuation_lines_are_joined_without_comments() {
        assert_eq!(
            join_lines("python \\\n  # the app\n  app.py \\ \n  --port 8", '\\'),
            "python   app.py   --port 8"
        );
        assert_eq!(join_lines("a `\n b", '`'), "a  b");
    }
}
