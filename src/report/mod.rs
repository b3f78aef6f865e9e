//! Rendering a report for people (and, later, for machines).

pub mod docs;
pub mod human;
pub mod junit;
pub mod machine;
pub mod sarif;

/// Categories in the order a reader should meet them: what breaks scheduling and storage
/// comes before the workloads it breaks. Unknown categories follow alphabetically.
const CATEGORY_ORDER: &[&str] = &[
    "cluster",
    "nodes",
    "scheduling",
    "storage",
    "images",
    "database",
    "workloads",
    "capacity",
    "access",
];

/// Sort key for a category name.
pub fn category_rank(c: &str) -> (usize, String) {
    (
        CATEGORY_ORDER
            .iter()
            .position(|x| *x == c)
            .unwrap_or(CATEGORY_ORDER.len()),
        c.to_string(),
    )
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

#[cfg(test)]
mod tests {
    use super::fold_command;

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
}
