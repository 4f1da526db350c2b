//! Benchmark of CV text extraction (issue 10), in one run on the same files: the server's own
//! extraction (format detection, then a job sent to a pre-started worker of the pool, as the
//! intake pipeline does), `pdftotext` (poppler-utils, one process per CV), and PyMuPDF in-process
//! (PyPI `pymupdf`, run by `examples/bench_cv_pymupdf.py`). Prints the median milliseconds per
//! CV of each, their ratios, and the OCR seconds per page of a scanned CV made from a corpus CV.
//! Asserts nothing.
//!
//! ```text
//! pip install pymupdf
//! cargo build --release --bin talqo-server
//! cargo run --release --example bench_cv_extraction -- [--runs 9] [--corpus ../shared/corpus]
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use talqo_server::cv::{CvExtractor, ExtractionLimits, TextSource, extract_file};

#[derive(Parser)]
struct Args {
    /// Timed runs per file (after one warm-up run); each file's figure is the median of its runs.
    #[arg(long, default_value_t = 9)]
    runs: usize,
    /// The shared test corpus (its `cv/` folder is timed).
    #[arg(long, env = "TALQO_CORPUS_DIR", default_value = "../shared/corpus")]
    corpus: PathBuf,
    /// The talqo-server binary the workers run (default: the release build beside this example).
    #[arg(long)]
    exe: Option<PathBuf>,
    /// The CV turned into a scan for the OCR figure.
    #[arg(long, default_value = "cv/rendercv_classic_John_Doe.pdf")]
    scanned_from: PathBuf,
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    let middle = samples.len() / 2;
    if samples.len() % 2 == 1 { samples[middle] } else { (samples[middle - 1] + samples[middle]) / 2.0 }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let exe = match args.exe {
        Some(exe) => exe,
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .map(|release| release.join("talqo-server"))
            .context("cannot locate target/release")?,
    };
    if !exe.exists() {
        bail!("{} is missing: cargo build --release --bin talqo-server", exe.display());
    }
    let mut pdfs: Vec<PathBuf> = std::fs::read_dir(args.corpus.join("cv"))
        .with_context(|| format!("reading {}", args.corpus.join("cv").display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    pdfs.retain(|path| path.extension().is_some_and(|e| e == "pdf"));
    pdfs.sort();
    let runs = args.runs.max(1);

    // The server's extraction: one worker, so every CV is timed alone, as the median of its runs.
    let limits = ExtractionLimits { max_concurrent: 1, prestarted_workers: 1, ..ExtractionLimits::default() };
    let extractor = CvExtractor::new(exe.clone(), limits);
    let mut ours = Vec::new();
    for path in &pdfs {
        extract_file(&extractor, path, u64::MAX).await.with_context(|| path.display().to_string())?;
        let mut samples = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            extract_file(&extractor, path, u64::MAX).await?;
            samples.push(ms(started.elapsed()));
        }
        ours.push(median(samples));
    }

    let mut poppler = Vec::new();
    for path in &pdfs {
        let mut samples = Vec::new();
        for run in 0..=runs {
            let started = Instant::now();
            let output = Command::new("pdftotext").args(["-enc", "UTF-8"]).arg(path).arg("-").output()?;
            if !output.status.success() {
                bail!("pdftotext failed on {}", path.display());
            }
            if run > 0 {
                samples.push(ms(started.elapsed()));
            }
        }
        poppler.push(median(samples));
    }

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bench_cv_pymupdf.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg((runs + 1).to_string())
        .args(&pdfs)
        .output()
        .context("python3 is needed for the PyMuPDF figure")?;
    if !output.status.success() {
        bail!("PyMuPDF run failed (pip install pymupdf): {}", String::from_utf8_lossy(&output.stderr));
    }
    let timings: std::collections::HashMap<String, Vec<f64>> = serde_json::from_slice(&output.stdout)?;
    let mut pymupdf = Vec::new();
    for path in &pdfs {
        let samples = timings.get(&path.display().to_string()).context("a file missing from PyMuPDF's answer")?;
        // The first run is the warm-up, as for the others.
        pymupdf.push(median(samples[1..].to_vec()));
    }

    let (ours_median, poppler_median, pymupdf_median) = (median(ours), median(poppler), median(pymupdf));
    println!("CV text extraction, {} PDF CVs of {}, median of {runs} runs per CV", pdfs.len(), args.corpus.display());
    println!("  talqo-server (worker pool) {ours_median:>8.2} ms per CV");
    println!("  pdftotext (per process)    {poppler_median:>8.2} ms per CV");
    println!("  PyMuPDF (in-process)       {pymupdf_median:>8.2} ms per CV");
    println!("  ratio talqo / PyMuPDF      {:>8.2}", ours_median / pymupdf_median);
    println!("  ratio talqo / pdftotext    {:>8.2}", ours_median / poppler_median);

    // OCR: the CV rendered to an image-only PDF, read by the same extractor.
    let dir = tempfile::tempdir()?;
    let (scan, pages) = scanned_copy(&args.corpus.join(&args.scanned_from), dir.path())?;
    let started = Instant::now();
    let (_, extracted) = extract_file(&extractor, &scan, u64::MAX).await?;
    let elapsed = started.elapsed().as_secs_f64();
    if extracted.source != TextSource::Ocr {
        bail!("the scanned copy was not read by OCR (is tesseract installed?)");
    }
    println!(
        "  OCR                        {:>8.2} s per page ({pages} pages of {}, {} words read)",
        elapsed / pages as f64,
        args.scanned_from.display(),
        extracted.text.split_whitespace().count()
    );
    Ok(())
}

/// An image-only PDF of `original` (one 200 dpi JPEG per page), and its page count.
fn scanned_copy(original: &Path, dir: &Path) -> anyhow::Result<(PathBuf, usize)> {
    const DPI: f64 = 200.0;
    let status = Command::new("pdftoppm").args(["-r", "200", "-jpeg"]).arg(original).arg(dir.join("page")).status()?;
    if !status.success() {
        bail!("pdftoppm failed");
    }
    let mut images: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    images.sort();
    let mut objects: Vec<Vec<u8>> = vec![b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()];
    let kids: Vec<String> = (0..images.len()).map(|i| format!("{} 0 R", 3 + 3 * i)).collect();
    objects.push(format!("<< /Type /Pages /Kids [{}] /Count {} >>", kids.join(" "), images.len()).into_bytes());
    for (index, image) in images.iter().enumerate() {
        let jpeg = std::fs::read(image)?;
        let (width, height, components) = jpeg_frame(&jpeg).context("not a JPEG")?;
        let (w, h) = (f64::from(width) * 72.0 / DPI, f64::from(height) * 72.0 / DPI);
        let space = if components == 1 { "DeviceGray" } else { "DeviceRGB" };
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w:.2} {h:.2}] /Contents {} 0 R \
                 /Resources << /XObject << /Scan {} 0 R >> >> >>",
                4 + 3 * index,
                5 + 3 * index
            )
            .into_bytes(),
        );
        let content = format!("q {w:.2} 0 0 {h:.2} 0 0 cm /Scan Do Q");
        objects.push(format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()).into_bytes());
        let mut object = format!(
            "<< /Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /{space} \
             /BitsPerComponent 8 /Filter /DCTDecode /Length {} >>\nstream\n",
            jpeg.len()
        )
        .into_bytes();
        object.extend_from_slice(&jpeg);
        object.extend_from_slice(b"\nendstream");
        objects.push(object);
    }
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (index, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n", index + 1).as_bytes());
        pdf.extend_from_slice(body);
        pdf.extend_from_slice(b"\nendobj\n");
    }
    let xref_at = pdf.len();
    pdf.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    let path = dir.join("scanned.pdf");
    std::fs::write(&path, pdf)?;
    Ok((path, images.len()))
}

fn jpeg_frame(jpeg: &[u8]) -> Option<(u32, u32, u8)> {
    let mut i = 2;
    while i + 9 < jpeg.len() {
        let marker = jpeg[i + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if (0xC0..=0xC2).contains(&marker) {
            let height = u32::from(u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]));
            let width = u32::from(u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]));
            return Some((width, height, jpeg[i + 9]));
        }
        i += 2 + len;
    }
    None
}
