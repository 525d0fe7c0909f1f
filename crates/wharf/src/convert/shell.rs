//! Shell-form commands (`CMD python app.py`): Docker hands them to
//! `/bin/sh -c`, and a wharf image has no shell. A command that is only a
//! program and its arguments is split into words as the shell would (with
//! `shlex`); one that needs the shell for more is reported, naming what.

/// Builtins and keywords of the shell, which no program in an image provides.
const BUILTINS: [&str; 20] = [
    "cd", "export", "source", ".", "set", "unset", "if", "for", "while", "until", "case", "trap",
    "ulimit", "umask", "eval", "alias", "read", "[", "test", "wait",
];

/// Splits a shell-form command into words, or says what in it needs a
/// shell (there is none in the sandbox).
pub(super) fn words(command: &str) -> Result<Vec<String>, String> {
    if let Some(why) = needs_shell(command) {
        return Err(why);
    }
    let words = shlex::split(command).ok_or("it has a quote that is not closed")?;
    let Some(first) = words.first() else {
        return Err("it is empty".into());
    };
    if BUILTINS.contains(&first.as_str()) {
        return Err(format!("`{first}` is part of the shell, not a program"));
    }
    if first.contains('=') && !first.starts_with('=') {
        return Err(format!(
            "`{first}` sets a variable for the command (put it in ENV instead)"
        ));
    }
    Ok(words)
}

/// What in `command` only a shell can do, if anything: expansions,
/// operators, redirections, globs, comments, several lines.
pub(super) fn needs_shell(command: &str) -> Option<String> {
    let mut quote: Option<char> = None;
    let mut word_start = true;
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        let why = match (quote, c) {
            (Some('\''), '\'') | (Some('"'), '"') => {
                quote = None;
                None
            }
            (Some('\''), _) => None,
            (Some(_), '\\') | (None, '\\') => {
                chars.next();
                None
            }
            (_, '$') => Some("`$` (it expands variables when the command runs)"),
            (_, '`') => Some("`` ` `` (command substitution)"),
            (Some(_), _) => None,
            (None, '\'' | '"') => {
                quote = Some(c);
                None
            }
            (None, '|') => Some("`|` (a pipe)"),
            (None, '&') => Some("`&&` or `&` (commands in sequence or in the background)"),
            (None, ';') => Some("`;` (commands in sequence)"),
            (None, '<' | '>') => Some("a redirection (`<`, `>`)"),
            (None, '(' | ')') => Some("`(` or `)` (a subshell)"),
            (None, '*' | '?' | '[') => Some("a pattern (`*`, `?`, `[`) that the shell expands"),
            (None, '~') if word_start => Some("`~` (the home directory)"),
            (None, '#') if word_start => Some("`#` (a comment)"),
            (None, '\n') => Some("several lines"),
            _ => None,
        };
        if let Some(why) = why {
            return Some(format!("it needs a shell for {why}"));
        }
        word_start = quote.is_none() && c.is_whitespace();
    }
    None
}

/// The commands of a sequence (`a && b; c`), split at `&&` and `;` outside
/// quotes; each may still need a shell for something else.
pub(super) fn sequence(command: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut quote: Option<char> = None;
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None | Some('"'), '\\') => {
                part.push(c);
                if let Some(next) = chars.next() {
                    part.push(next);
                }
                continue;
            }
            (None, ';') => {
                parts.push(std::mem::take(&mut part));
                continue;
            }
            (None, '&') if chars.peek() == Some(&'&') => {
                chars.next();
                parts.push(std::mem::take(&mut part));
                continue;
            }
            _ => {}
        }
        part.push(c);
    }
    parts.push(part);
    parts
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_command_is_split_into_words() {
        assert_eq!(words("python app.py").unwrap(), ["python", "app.py"]);
        assert_eq!(
            words(r#"python -c "print('a b')" 'x y' z\ w"#).unwrap(),
            ["python", "-c", "print('a b')", "x y", "z w"]
        );
        assert_eq!(
            words("python  'a*b' \"[x]\"").unwrap(),
            ["python", "a*b", "[x]"]
        );
        assert_eq!(words("python a#b").unwrap(), ["python", "a#b"]);
    }

    #[test]
    fn what_needs_a_shell_is_named() {
        let why = |c: &str| words(c).unwrap_err();
        assert!(why("cd /app && python app.py").contains("`&&`"));
        assert!(why("python app.py | tee log").contains("pipe"));
        assert!(why("python $APP").contains("`$`"));
        assert!(why("python \"$APP\"").contains("`$`"));
        assert!(why("echo `date`").contains("substitution"));
        assert!(why("python app.py > log").contains("redirection"));
        assert!(why("python *.py").contains("pattern"));
        assert!(why("ls ~").contains("home"));
        assert!(why("python app.py # run").contains("comment"));
        assert!(why("python 'open").contains("quote"));
        assert!(why("export A=1").contains("part of the shell"));
        assert!(why("A=1 python app.py").contains("ENV"));
        assert!(why("a; b").contains("`;`"));
    }

    #[test]
    fn sequences_are_split_outside_quotes() {
        assert_eq!(
            sequence("apt-get update && pip install -r r.txt; echo 'a && b'"),
            ["apt-get update", "pip install -r r.txt", "echo 'a && b'"]
        );
        assert_eq!(sequence("a \\; b"), ["a \\; b"]);
        assert_eq!(sequence("a || b"), ["a || b"]);
    }
}
