//! Text helpers every layer uses: first lines of errors, shell quoting, wrapping and folding
//! for a terminal, globs. A leaf: it imports nothing from the crate.

/// Columns of human output.
pub const WIDTH: usize = 100;

/// The first non-empty line of a possibly long error text.
pub fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
}

/// The words of `s` separated by single spaces.
pub fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `*` globs (`k8s-node-*`), the only wildcard suppressions accept.
pub fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            if !text.starts_with(head) {
                return false;
            }
            let tail = &text[head.len()..];
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob(rest, &tail[i..]))
        }
    }
}

/// Greedy word wrap to `width` columns, every line prefixed with `indent`.
pub fn wrap(text: &str, indent: &str, width: usize) -> String {
    let room = width.saturating_sub(indent.chars().count()).max(20);
    let mut out = String::new();
    for para in text.lines() {
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > room {
                out.push_str(indent);
                out.push_str(&line);
                out.push('\n');
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push_str(indent);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// A shell command folded to `width` columns with ` \\` continuations at spaces outside
/// quotes, so it stays copy-pasteable.
pub fn fold_command(cmd: &str, indent: &str, width: usize) -> String {
    let room = width.saturating_sub(indent.chars().count() + 2).max(30);
    if cmd.chars().count() <= room {
        return format!("{indent}{cmd}\n");
    }
    // Split into words at spaces outside single quotes. Inside double quotes a
    // backslash-newline is a line continuation too, so those may be folded as well.
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in cmd.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some('\'') => {}
            Some(_) if c == ' ' => {
                words.push(std::mem::take(&mut cur));
                continue;
            }
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == ' ' => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                continue;
            }
            None => {}
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let mut out = String::new();
    let mut line = String::new();
    for w in words {
        if !line.is_empty() && line.chars().count() + 1 + w.chars().count() > room {
            out.push_str(&format!("{indent}{line} \\\n"));
            line = "  ".to_string();
        } else if !line.is_empty() && line != "  " {
            line.push(' ');
        }
        line.push_str(&w);
    }
    out.push_str(&format!("{indent}{line}\n"));
    out
}

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+".contains(c))
    {
        s.to_string()
    } else if !s.contains(['"', '$', '`', '\\', '!']) {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.trim().splitn(3, '-');
    let (y, m, d): (i64, i64, i64) = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Today, in days since 1970-01-01 (UTC).
pub fn today() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    secs.div_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_long_commands_where_the_shell_allows() {
        let cmd = format!(
            "IMAGES=\"{}\"",
            ["codewisdom/ts-a-service:1.0.0"; 8].join(" ")
        );
        let folded = fold_command(&cmd, "  ", 60);
        assert!(folded.lines().all(|l| l.chars().count() <= 60), "{folded}");
        // Joining the continuation lines gives back the words of the command.
        let joined = folded.replace(" \\\n", " ");
        assert_eq!(
            joined.split_whitespace().collect::<Vec<_>>(),
            format!("  {cmd}").split_whitespace().collect::<Vec<_>>()
        );
        let single = "kubectl patch sc x -p '{\"metadata\": {\"annotations\": {\"a\": \"true\"}}}'";
        assert!(
            fold_command(single, "", 30)
                .contains("'{\"metadata\": {\"annotations\": {\"a\": \"true\"}}}'")
        );
    }

    #[test]
    fn globs_and_first_lines() {
        assert!(glob("ts-*-service", "ts-order-service"));
        assert!(!glob("ts-*-service", "ts-order"));
        assert!(glob("*", ""));
        assert_eq!(first_line("\n  boom \n at x"), "boom");
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-11-28"), Some(20_785));
        assert_eq!(parse_date("2026-13-01"), None);
    }
}
