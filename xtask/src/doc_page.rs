//! A documentation page in Markdown, read as a person following it would: its sections (with
//! the tutorial step number a heading names), and the commands of its shell blocks, with
//! continuation lines joined, `# Path: …` as the directory they run in, YAML edits told apart
//! from commands, and the lines typed into an interactive shell (`kubectl exec -it … -- bash`)
//! marked as run inside it.

/// One line of the page that a reader acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct PageCommand {
    /// 1-based line in the page where it starts.
    pub line: usize,
    /// The tutorial step of the section it is in (`1`, `5.2`), if the heading names one.
    pub doc: Option<String>,
    /// The command, continuation lines joined, without a trailing `# comment`.
    pub text: String,
    /// The directory the page says to run it in (`# Path: kuberay/`), if any.
    pub path: Option<String>,
    /// The interactive shell it is typed into, when it runs inside one.
    pub inside: Option<String>,
    /// The comment lines just before it.
    pub comments: Vec<String>,
    pub kind: CommandKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CommandKind {
    /// A command to run.
    Shell,
    /// Lines of YAML to put in a file (the comment before them says which).
    YamlEdit,
}

impl PageCommand {
    /// The command as it really runs: one typed into an interactive `kubectl exec … -- bash` is
    /// that exec with the command in place of the shell.
    pub fn effective(&self) -> String {
        match &self.inside {
            Some(shell) => match shell.rsplit_once(" -- ") {
                Some((exec, _)) => format!("{exec} -- {}", self.text),
                None => self.text.clone(),
            },
            None => self.text.clone(),
        }
    }
}

/// What a line of the page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// Text, headings, fences.
    Prose,
    /// A `#` comment inside a shell block.
    Comment,
    /// (Part of) a command or a YAML edit.
    Command,
}

/// A parsed page: its lines, what each is, the tutorial step each is under, and its commands.
#[derive(Debug, Clone)]
pub struct Page {
    pub lines: Vec<String>,
    pub kinds: Vec<LineKind>,
    pub docs: Vec<Option<String>>,
    pub commands: Vec<PageCommand>,
}

/// The step number a heading names: `# Step 1: …` → `1`, `## Step 5.2: …` → `5.2`.
fn heading_step(line: &str) -> Option<Option<String>> {
    let title = line.trim_start_matches('#');
    if title.len() == line.len() || !title.starts_with(' ') {
        return None;
    }
    let title = title.trim();
    let number = title
        .strip_prefix("Step ")
        .and_then(|rest| rest.split([':', ' ']).next())
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit() || c == '.'));
    Some(number.map(str::to_string))
}

pub fn is_shell_fence(line: &str) -> bool {
    matches!(line.trim(), "```bash" | "```sh" | "```shell" | "```console")
}

/// A line of YAML (`key: value`, `key:`, or an indented continuation) rather than a command.
fn looks_like_yaml(line: &str, in_yaml: bool) -> bool {
    let t = line.trim_end();
    if in_yaml && (t.starts_with(' ') || t.starts_with('-')) {
        return true;
    }
    let Some((key, rest)) = t.split_once(':') else {
        return false;
    };
    !key.is_empty()
        && !key.contains(' ')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && (rest.is_empty() || rest.starts_with(' '))
}

/// A command that opens an interactive shell in a container.
fn opens_shell(command: &str) -> bool {
    let words: Vec<&str> = command.split_whitespace().collect();
    words.first() == Some(&"kubectl")
        && words.contains(&"exec")
        && words.iter().any(|w| *w == "-it" || *w == "-ti")
        && matches!(words.last(), Some(&"bash") | Some(&"sh"))
}

/// A command for a tool that runs on the reader's machine, which ends an interactive shell.
fn host_command(command: &str) -> bool {
    matches!(
        command.split_whitespace().next(),
        Some("kubectl" | "kind" | "helm" | "docker")
    )
}

/// The command without a trailing shell comment (` # …` outside quotes).
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let bytes = line.as_bytes();
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && i > 0 && bytes[i - 1] == b' ' => {
                return line[..i].trim_end();
            }
            _ => {}
        }
    }
    line.trim_end()
}

pub fn parse(text: &str) -> Page {
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut kinds = vec![LineKind::Prose; lines.len()];
    let mut docs = vec![None; lines.len()];
    let mut commands = Vec::new();
    let mut doc: Option<String> = None;
    let mut in_block = false;
    let mut block = BlockState::default();
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        docs[i] = doc.clone();
        if !in_block {
            if let Some(step) = heading_step(line) {
                doc = step;
            } else if is_shell_fence(line) {
                in_block = true;
                block = BlockState::default();
            }
            i += 1;
            continue;
        }
        if line.trim() == "```" {
            in_block = false;
            i += 1;
            continue;
        }
        let start = i;
        let kind = if line.trim_start().starts_with('#') {
            LineKind::Comment
        } else if line.trim().is_empty() {
            LineKind::Prose
        } else {
            LineKind::Command
        };
        kinds[i] = kind;
        // Continuation lines.
        let mut joined = line.trim().to_string();
        while joined.ends_with('\\') && i + 1 < lines.len() {
            joined.pop();
            i += 1;
            kinds[i] = kind;
            docs[i] = doc.clone();
            joined = format!("{} {}", joined.trim_end(), lines[i].trim());
        }
        i += 1;
        let raw = lines[start].trim_end();
        block.read(&joined, raw, start + 1, doc.as_deref(), &mut commands);
    }
    Page {
        lines,
        kinds,
        docs,
        commands,
    }
}

/// What a shell block has said so far that shapes its next lines.
#[derive(Default)]
struct BlockState {
    path: Option<String>,
    comments: Vec<String>,
    shell: Option<String>,
    /// Whether the last command ran inside the interactive shell, with nothing between.
    inside_run: bool,
    /// A YAML edit being read.
    yaml: Option<PageCommand>,
}

impl BlockState {
    /// Reads one line: `line` with its continuations joined and trimmed, `raw` as written.
    fn read(
        &mut self,
        line: &str,
        raw: &str,
        number: usize,
        doc: Option<&str>,
        out: &mut Vec<PageCommand>,
    ) {
        if line.is_empty() {
            self.flush_yaml(out);
            self.comments.clear();
            self.inside_run = false;
            return;
        }
        if let Some(comment) = line.strip_prefix('#') {
            self.flush_yaml(out);
            let comment = comment.trim();
            match comment.strip_prefix("Path:") {
                Some(p) => self.path = Some(p.trim().to_string()),
                None => self.comments.push(comment.to_string()),
            }
            self.inside_run = false;
            return;
        }
        if let Some(edit) = &mut self.yaml
            && looks_like_yaml(raw, true)
        {
            edit.text.push('\n');
            edit.text.push_str(raw);
            return;
        }
        let command = PageCommand {
            line: number,
            doc: doc.map(str::to_string),
            text: strip_comment(line).to_string(),
            path: self.path.clone(),
            inside: None,
            comments: std::mem::take(&mut self.comments),
            kind: CommandKind::Shell,
        };
        if looks_like_yaml(line, false) {
            self.yaml = Some(PageCommand {
                text: line.to_string(),
                kind: CommandKind::YamlEdit,
                ..command
            });
            return;
        }
        if host_command(&command.text) {
            self.shell = None;
        }
        let marked = command.comments.iter().any(|c| c.contains("(Head Pod)"));
        let inside = self.shell.is_some() && (marked || self.inside_run);
        self.inside_run = inside;
        let command = PageCommand {
            inside: if inside { self.shell.clone() } else { None },
            ..command
        };
        if opens_shell(&command.text) {
            self.shell = Some(command.text.clone());
        }
        out.push(command);
    }

    fn flush_yaml(&mut self, out: &mut Vec<PageCommand>) {
        if let Some(edit) = self.yaml.take() {
            out.push(edit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "\
# Step 3: Create the namespace

```bash
kubectl create ns pod-security
kubectl label --overwrite ns pod-security \\
  a=b \\
  c=d
```

# Step 4: Install

```bash
# Update the field securityContext in values.yaml
securityContext:
  runAsNonRoot: true

# Path: kuberay/helm-chart/kuberay-operator
helm install -n pod-security kuberay-operator .
```

## Step 5.2: Run

```bash
# Log in to the head Pod
kubectl exec -it -n pod-security ${YOUR_HEAD_POD} -- bash

# (Head Pod) Run a sample job in the Pod
python3 samples/xgboost_example.py

# Check the job status in the dashboard on your browser.

# (Head Pod) Install
pip3 install jsonpatch
echo $? # Check the exit code. It should be 0.

# Clean up
kubectl delete -n pod-security -f x.yaml
```
";

    #[test]
    fn commands_are_read_with_their_step_path_and_shell() {
        let page = parse(PAGE);
        let c: Vec<(usize, Option<&str>, &str, bool)> = page
            .commands
            .iter()
            .map(|c| {
                (
                    c.line,
                    c.doc.as_deref(),
                    c.text.as_str(),
                    c.inside.is_some(),
                )
            })
            .collect();
        assert_eq!(
            c,
            [
                (4, Some("3"), "kubectl create ns pod-security", false),
                (
                    5,
                    Some("3"),
                    "kubectl label --overwrite ns pod-security a=b c=d",
                    false
                ),
                (
                    14,
                    Some("4"),
                    "securityContext:\n  runAsNonRoot: true",
                    false
                ),
                (
                    18,
                    Some("4"),
                    "helm install -n pod-security kuberay-operator .",
                    false
                ),
                (
                    25,
                    Some("5.2"),
                    "kubectl exec -it -n pod-security ${YOUR_HEAD_POD} -- bash",
                    false
                ),
                (28, Some("5.2"), "python3 samples/xgboost_example.py", true),
                (33, Some("5.2"), "pip3 install jsonpatch", true),
                (34, Some("5.2"), "echo $?", true),
                (
                    37,
                    Some("5.2"),
                    "kubectl delete -n pod-security -f x.yaml",
                    false
                ),
            ]
        );
        assert_eq!(page.commands[2].kind, CommandKind::YamlEdit);
        assert_eq!(
            (page.kinds[4], page.kinds[5], page.kinds[12], page.kinds[0]),
            (
                LineKind::Command,
                LineKind::Command,
                LineKind::Comment,
                LineKind::Prose
            )
        );
        assert_eq!(page.docs[30].as_deref(), Some("5.2"));
        assert_eq!(
            page.commands[2].comments,
            ["Update the field securityContext in values.yaml"]
        );
        assert_eq!(
            page.commands[3].path.as_deref(),
            Some("kuberay/helm-chart/kuberay-operator")
        );
        assert_eq!(
            page.commands[5].effective(),
            "kubectl exec -it -n pod-security ${YOUR_HEAD_POD} -- python3 samples/xgboost_example.py"
        );
    }

    #[test]
    fn a_trailing_comment_is_not_part_of_the_command_but_a_quoted_hash_is() {
        assert_eq!(strip_comment("echo $? # Check"), "echo $?");
        assert_eq!(strip_comment("grep -F ' # x' f"), "grep -F ' # x' f");
        assert_eq!(strip_comment("curl http://h/#/job"), "curl http://h/#/job");
    }
}
