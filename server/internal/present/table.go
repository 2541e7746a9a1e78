package present

import (
	"encoding/csv"
	"net/http"
	"strings"
)

// Table is a list as rows of text, for a CSV download.
type Table struct {
	Header []string
	Rows   [][]string
}

// TableOf is list as a table: the columns header, and a row of cells for
// each item.
func TableOf[T any](header []string, list []T, cells func(T) []string) Table {
	t := Table{Header: header, Rows: make([][]string, 0, len(list))}
	for _, v := range list {
		t.Rows = append(t.Rows, cells(v))
	}
	return t
}

// WriteCSV answers with t as a CSV download named name.csv (the name made
// safe for a header: letters, digits, '-', '_' and '.'), every cell passed
// through CSVCell.
func (t Table) WriteCSV(w http.ResponseWriter, name string) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+FileName(name)+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write(t.Header)
	for _, row := range t.Rows {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = CSVCell(c)
		}
		cw.Write(cells)
	}
	cw.Flush()
	return cw.Error()
}

// FileName makes s safe as a download's file name: every character but
// ASCII letters, digits, '-', '_' and '.' becomes '_'.
func FileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') {
			return r
		}
		return '_'
	}, s)
}
