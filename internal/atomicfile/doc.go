// Package atomicfile writes files so that a crash, a full disk or a power cut
// leaves either the old file or the complete new one, never a mixture.
//
// WriteFile and CreateNew write to a temporary file in the same folder, fsync
// it, put it in place (rename to replace, link to create), and fsync the
// folder so the new name survives a power cut. On failure the temporary file is removed. The
// temporary name starts with "." and the target's name and ends in
// [TempSuffix], so a scan can recognise leftovers from a crash. Remove
// removes a file and fsyncs the folder, so that the removal, too, survives.
package atomicfile
