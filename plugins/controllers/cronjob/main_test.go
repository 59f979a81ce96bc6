package cronjob

import (
	"testing"

	"github.com/skiff-sh/skiff/core/client/clienttest"
)

var etcd *clienttest.Etcd

func TestMain(m *testing.M) { clienttest.RunMain(m, &etcd) }
