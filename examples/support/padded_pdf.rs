//! A synthetic CV for the benchmark commands: a one-page PDF padded to an exact size.

use anyhow::{Context, bail};

/// A one-page PDF with a little text, padded to exactly `size` bytes with a comment line after the header
/// (the corpus's recipe for its over-the-limit files), with a correct xref table.
pub fn padded_pdf(size: usize) -> anyhow::Result<Vec<u8>> {
    // The padding line is `%`, the padding, and a newline; the `startxref` offset grows by a few digits with the
    // padding, so the length is corrected once or twice.
    let mut padding = size.checked_sub(pdf_with_padding(0).len() + 2).context("the size is below the content's")?;
    for _ in 0..4 {
        let pdf = pdf_with_padding(padding);
        match pdf.len().cmp(&size) {
            std::cmp::Ordering::Equal => return Ok(pdf),
            std::cmp::Ordering::Greater => padding -= pdf.len() - size,
            std::cmp::Ordering::Less => padding += size - pdf.len(),
        }
    }
    bail!("cannot pad a PDF to exactly {size} bytes")
}

fn pdf_with_padding(padding: usize) -> Vec<u8> {
    let content: &[u8] =
        b"BT /F1 12 Tf 72 720 Td (Bench Candidate, senior Rust engineer, PostgreSQL, Kubernetes) Tj ET";
    let mut pdf = b"%PDF-1.4\n".to_vec();
    if padding > 0 {
        pdf.push(b'%');
        pdf.extend(b"bench padding ".iter().copied().cycle().take(padding));
        pdf.push(b'\n');
    }
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
           /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_vec(),
        [format!("<< /Length {} >>\nstream\n", content.len()).as_bytes(), content, b"\nendstream"].concat(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ];
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
    pdf
}
