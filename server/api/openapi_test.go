package api_test

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/casekeep/casekeep/server"
	"github.com/casekeep/casekeep/server/api"
)

// TestOpenAPIMatchesRoutes: openapi.yaml documents exactly the routes the
// API serves, method for method.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	b, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                               `yaml:"openapi"`
		Paths   map[string]map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
			if _, ok := op["responses"]; !ok {
				t.Errorf("%s %s has no responses", method, path)
			}
		}
	}
	served := api.RoutesOf()
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Errorf("openapi.yaml documents:\n%s\nthe API serves:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
}

// TestOpenAPISchemas: the Device, Agent, Command and Lease schemas
// document exactly the JSON fields of api.DeviceView, api.AgentView,
// api.CommandView and api.LeaseView, and the devices list
// documents its agent filter with every value it takes.
func TestOpenAPISchemas(t *testing.T) {
	b, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name   string `yaml:"name"`
				Schema struct {
					Enum []string `yaml:"enum"`
				} `yaml:"schema"`
			} `yaml:"parameters"`
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for schema, v := range map[string]any{"Device": api.DeviceView{}, "Agent": api.AgentView{}, "Command": api.CommandView{}, "Lease": api.LeaseView{}} {
		var fields, documented []string
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			if name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
				fields = append(fields, name)
			}
		}
		for name := range doc.Components.Schemas[schema].Properties {
			documented = append(documented, name)
		}
		slices.Sort(fields)
		slices.Sort(documented)
		if !slices.Equal(fields, documented) {
			t.Errorf("schema %s documents %v; the JSON has %v", schema, documented, fields)
		}
	}
	var enum []string
	for _, p := range doc.Paths["/api/v1/devices"]["get"].Parameters {
		if p.Name == "agent" {
			enum = p.Schema.Enum
		}
	}
	if !slices.Equal(enum, server.AgentFilters) {
		t.Errorf("the agent filter is documented with %v; it takes %v", enum, server.AgentFilters)
	}
}
