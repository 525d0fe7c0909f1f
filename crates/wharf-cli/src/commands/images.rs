//! The module that implements the `wharf images` command.

use std::time::SystemTime;

use anyhow::Result;
use clap::Args;

use wharf::digest;
use wharf::units::{human_age, human_size};

/// List images in the local store.
#[derive(Debug, Args)]
pub struct ImagesCommand {
    /// Print only image IDs.
    #[arg(short, long)]
    quiet: bool,
}

impl ImagesCommand {
    pub fn execute(self) -> Result<()> {
        let store = super::open_store()?;
        let mut entries = store.tags()?;
        // Newest first, as Docker lists them.
        entries.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.name.cmp(&b.name)));
        if self.quiet {
            let mut seen = Vec::new();
            for entry in &entries {
                if !seen.contains(&entry.id) {
                    println!("{}", digest::short(&entry.id));
                    seen.push(entry.id.clone());
                }
            }
            return Ok(());
        }
        let mut rows = vec![[
            "REPOSITORY".to_owned(),
            "TAG".to_owned(),
            "IMAGE ID".to_owned(),
            "CREATED".to_owned(),
            "SIZE".to_owned(),
        ]];
        for entry in &entries {
            let size = store
                .load_image(&entry.id)
                .map(|image| human_size(image.size()))
                .unwrap_or_else(|_| "damaged".to_owned());
            let created = entry
                .created
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .map(|age| human_age(age.as_secs()))
                .unwrap_or_else(|| "N/A".to_owned());
            rows.push([
                entry.repository().to_owned(),
                entry.tag().to_owned(),
                digest::short(&entry.id).to_owned(),
                created,
                size,
            ]);
        }
        print!("{}", table(&rows));
        Ok(())
    }
}

/// Lays rows out in columns separated by three spaces, as Docker does.
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < N {
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let rows = [
            ["REPOSITORY".to_owned(), "TAG".to_owned()],
            ["a".to_owned(), "latest".to_owned()],
        ];
        assert_eq!(table(&rows), "REPOSITORY   TAG\na            latest\n");
    }
}
