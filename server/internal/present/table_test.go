package present_test

import (
	"encoding/csv"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/casekeep/casekeep/server/internal/present"
)

func TestTableWriteCSV(t *testing.T) {
	tb := present.Table{Header: []string{"host", "detail"}, Rows: [][]string{{"=cmd|' /C calc'!A0", "a,b \"c\""}, {"laptop", "+1"}}}
	rec := httptest.NewRecorder()
	if err := tb.WriteCSV(rec, "case-\"LL 1\"\r\nX-Evil: 1"); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.Header().Get("Content-Disposition"), `attachment; filename="case-_LL_1___X-Evil__1.csv"`; got != want {
		t.Errorf("Content-Disposition %q, want %q", got, want)
	}
	rows, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"host", "detail"}, {"'=cmd|' /C calc'!A0", "a,b \"c\""}, {"laptop", "'+1"}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("CSV %q, want %q", rows, want)
	}
	if tb.Rows[0][0] != "=cmd|' /C calc'!A0" {
		t.Errorf("WriteCSV changed the table it wrote: %q", tb.Rows[0][0])
	}
}
