package present_test

import (
	"encoding/csv"
	"net/http/httptest"
	"reflect"
	"strconv"
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

func TestTableOf(t *testing.T) {
	got := present.TableOf([]string{"n", "double"}, []int{1, 2}, func(n int) []string { return []string{strconv.Itoa(n), strconv.Itoa(2 * n)} })
	want := present.Table{Header: []string{"n", "double"}, Rows: [][]string{{"1", "2"}, {"2", "4"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TableOf = %+v, want %+v", got, want)
	}
	if got := present.TableOf([]string{"n"}, []int(nil), func(int) []string { return nil }); got.Rows == nil || len(got.Rows) != 0 {
		t.Errorf("TableOf of none = %+v", got)
	}
}
