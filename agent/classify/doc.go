// Package classify decides whether a file found outside the vault (in
// Downloads, on the Desktop, in a cloud-sync folder, on a USB stick) is a
// council case file, by the policy's rules: a pattern on its path, a case
// reference in its name, or a marker such as "OFFICIAL-SENSITIVE" in its
// content. It reads a bounded number of bytes from a file the caller has
// already opened, and never opens a path itself, so it cannot be led along
// a symbolic link.
//
// Content is read as what its first bytes say it is, whatever its
// extension: a zip (Word, Excel and PowerPoint documents, OpenDocument,
// other zips), a PDF, or plain bytes. Office documents are read through
// their central directory, which sits at the end of the file and costs
// bytes from the budget like everything else; the parts that carry
// classification markings come first (the custom document properties,
// where sensitivity labels live, then page headers and footers), then the
// body, the document properties and the notes. The text of their XML is
// extracted by a streaming scan, so text split across runs is joined. A
// zip whose directory is missing or cut off is walked from its local
// headers. A PDF is read from its first MaxBytes: its raw bytes, every
// string in its objects (document information such as /Title and
// /Keywords, bookmarks, annotations, form fields), and the text its
// content streams show, decompressed (Flate, ASCII85, ASCIIHex) and
// decoded through the fonts' ToUnicode maps; object streams are read too.
// Plain bytes are scanned as they are, or as UTF-16 after a byte-order
// mark.
//
// Markers match ignoring case, whitespace and NUL bytes (so ASCII text
// stored as UTF-16 in a legacy Word file matches too), with every dash read
// as "-", in a window that moves along the text: memory does not grow with
// the text. Every limit holds whatever the file claims. At most MaxBytes
// raw bytes are read, never at or past the size the caller gave; a zip's
// directory may use half of them. At most MaxText bytes are decompressed
// or decoded (zip entries, PDF streams, and the text ToUnicode maps make).
// Nothing is held but the PDF's first MaxBytes, one decoded PDF stream of
// at most MaxBytes, a zip's directory, and tables of bounded size.
// Corrupt, truncated, encrypted or oversized content is not an error: the
// file is classified by what could be read, and the result says Partial.
//
// Classify logs nothing and keeps nothing of the content: a [Result] says
// which rule and marker matched and the case reference, never any text.
// Nothing here is specific to an operating system.
package classify
