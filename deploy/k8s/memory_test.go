package k8s

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestGoMemLimit(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"819MiB", 819 << 20, true},
		{"1GiB", 1 << 30, true},
		{"123456", 123456, true},
		{"512B", 512, true},
		{"4KiB", 4 << 10, true},
		{"off", 0, false},
		{"512Mi", 0, false}, // a Kubernetes quantity, not the runtime's syntax
		{"", 0, false},
		{"-1MiB", 0, false},
	}
	for _, tt := range tests {
		got, err := goMemLimit(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("goMemLimit(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestResourceValue(t *testing.T) {
	ct := &corev1.Container{Name: "realtime", Resources: corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
		Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100M")},
	}}
	tests := []struct {
		ref  corev1.ResourceFieldSelector
		want string
	}{
		{corev1.ResourceFieldSelector{Resource: "limits.memory"}, "536870912"},
		{corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}, "512"},
		{corev1.ResourceFieldSelector{Resource: "requests.memory", Divisor: resource.MustParse("1Mi")}, "96"}, // rounded up
		{corev1.ResourceFieldSelector{Resource: "limits.memory", ContainerName: "other"}, ""},
		{corev1.ResourceFieldSelector{Resource: "limits.cpu"}, ""},
	}
	for _, tt := range tests {
		if got := resourceValue(ct, &tt.ref); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.ref, got, tt.want)
		}
	}
}
