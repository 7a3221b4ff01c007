//! `--format` of the list commands (`ps`, `images`, `volume ls`), as docker's: `table` (the default columns),
//! `table TEMPLATE` (a header line, then one line per item, aligned as docker's tabwriter does: columns split at
//! `\t`, at least 10 wide, 3 spaces of padding), a bare Go template (one line per item, not aligned), or `json`
//! (holm's JSON array, as before). Templates see one JSON object per item with docker's field names (`.ID`,
//! `.Names`, `.Status`, …); see [`crate::template`].

use crate::template::Template;
use serde_json::Value;

/// A parsed `--format` value.
#[derive(Debug, Clone)]
pub enum Format {
    /// `json`: the command's JSON array.
    Json,
    /// `table [TEMPLATE]`: header and aligned rows.
    Table(Template),
    /// A bare template: one execution per item, each followed by a newline.
    Raw(Template),
}

impl Format {
    /// Parses `--format` (`None`, empty or `table`: the command's `default` table template, given without the
    /// `table ` prefix). Errors: [`holm_engine::Error::InvalidFlag`] naming `--format` (exit status 125).
    pub fn parse(s: Option<&str>, default: &str) -> holm_engine::Result<Format> {
        let given = s.unwrap_or("");
        // docker replaces a typed `\t` and `\n` (two characters each: a shell's single quotes keep them) by a
        // tab and a newline in list formats, so `'table {{.ID}}\t{{.Names}}'` works from a shell
        let replaced = given.replace(r"\t", "\t").replace(r"\n", "\n");
        let s = replaced.trim_matches(' ');
        let bad =
            |e: crate::template::Error| holm_engine::Error::flag("--format", given, e.to_string());
        if s.is_empty() || s == "table" {
            return Ok(Format::Table(Template::parse(default).map_err(bad)?));
        }
        if s == "json" {
            return Ok(Format::Json);
        }
        if let Some(t) = s
            .strip_prefix("table ")
            .or_else(|| s.strip_prefix("table\t"))
        {
            return Ok(Format::Table(
                Template::parse(t.trim_matches(' ')).map_err(bad)?,
            ));
        }
        Ok(Format::Raw(Template::parse(s).map_err(bad)?))
    }

    /// Renders `items` (`headers`: field name → column title, for `table`). `json` is the caller's job.
    pub fn render(
        &self,
        items: &[Value],
        headers: &Value,
    ) -> Result<String, crate::template::Error> {
        match self {
            Format::Json => Ok(String::new()),
            Format::Raw(t) => {
                let mut out = String::new();
                for i in items {
                    out.push_str(&t.execute(i)?);
                    out.push('\n');
                }
                Ok(out)
            }
            Format::Table(t) => {
                let mut text = t.execute_header(headers).unwrap_or_default();
                text.push('\n');
                for i in items {
                    text.push_str(&t.execute(i)?);
                    text.push('\n');
                }
                Ok(tabwrite(&text, 10, 3))
            }
        }
    }
}

/// Go's `text/tabwriter` with docker's settings (minimum width `min`, `pad` spaces, space padding, no flags):
/// cells end at `\t`; a column's width is the widest cell of the run of consecutive lines that have that column,
/// plus `pad`, at least `min`; the text after a line's last `\t` is not aligned.
pub fn tabwrite(text: &str, min: usize, pad: usize) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let ncols = lines.iter().map(|l| l.len() - 1).max().unwrap_or(0);
    // widths[line][col]
    let mut widths = vec![vec![0usize; ncols]; lines.len()];
    for col in 0..ncols {
        let mut i = 0;
        while i < lines.len() {
            if lines[i].len() - 1 <= col {
                i += 1;
                continue;
            }
            let start = i;
            while i < lines.len() && lines[i].len() - 1 > col {
                i += 1;
            }
            let w = lines[start..i]
                .iter()
                .map(|l| l[col].chars().count() + pad)
                .max()
                .unwrap_or(0)
                .max(min);
            for row in widths.iter_mut().take(i).skip(start) {
                row[col] = w;
            }
        }
    }
    let mut out = String::new();
    for (li, l) in lines.iter().enumerate() {
        for (ci, cell) in l.iter().enumerate() {
            out.push_str(cell);
            if ci + 1 < l.len() {
                out.push_str(&" ".repeat(widths[li][ci].saturating_sub(cell.chars().count())));
            }
        }
        if li + 1 < lines.len() {
            out.push('\n');
        }
    }
    out
}

/// docker's label column: `k=v,k2=v2` (sorted by key here; docker's order is a Go map's).
pub fn labels_text<'a>(labels: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    let mut l: Vec<String> = labels
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    l.sort();
    l.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tabwriter_as_docker() {
        assert_eq!(
            tabwrite(
                "CONTAINER ID\tIMAGE\tNAMES\nabc\tbusybox:latest\tweb\n",
                10,
                3
            ),
            "CONTAINER ID   IMAGE            NAMES\nabc            busybox:latest   web\n"
        );
        // a line without tabs does not widen the columns
        assert_eq!(
            tabwrite("a\tb\nlong line here\n", 10, 3),
            "a         b\nlong line here\n"
        );
    }

    #[test]
    fn formats() {
        let rows = [
            json!({"ID": "1", "Names": "web"}),
            json!({"ID": "22", "Names": "db"}),
        ];
        let h = json!({"ID": "CONTAINER ID", "Names": "NAMES"});
        let f = Format::parse(Some("table {{.ID}}\t{{.Names}}"), "").unwrap();
        assert_eq!(
            f.render(&rows, &h).unwrap(),
            "CONTAINER ID   NAMES\n1              web\n22             db\n"
        );
        // a typed backslash-t is a tab, a typed backslash-n a newline, as docker's
        let f = Format::parse(Some(r"table {{.ID}}\t{{.Names}}"), "").unwrap();
        assert_eq!(
            f.render(&rows, &h).unwrap(),
            "CONTAINER ID   NAMES\n1              web\n22             db\n"
        );
        let f = Format::parse(Some(r"{{.ID}}\n{{.Names}}"), "").unwrap();
        assert_eq!(f.render(&rows[..1], &h).unwrap(), "1\nweb\n");
        let f = Format::parse(Some("{{.ID}}: {{.Names}}"), "").unwrap();
        assert_eq!(f.render(&rows, &h).unwrap(), "1: web\n22: db\n");
        let f = Format::parse(None, "{{.Names}}").unwrap();
        assert_eq!(f.render(&rows, &h).unwrap(), "NAMES\nweb\ndb\n");
        assert!(matches!(Format::parse(Some("json"), ""), Ok(Format::Json)));
        assert!(matches!(
            Format::parse(Some("{{.ID"), ""),
            Err(holm_engine::Error::InvalidFlag { .. })
        ));
    }
}
