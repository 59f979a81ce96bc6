package interpodantiaffinity

import (
	"github.com/skiff-sh/skiff/plugins/scheduler/internal/policyutil"
	"github.com/skiff-sh/skiff/sdk"
)

// Descriptor names the filter.
var Descriptor = sdk.NewDescriptor("InterPodAntiAffinity", sdk.PointFilter)

// New is the factory; the policy takes no args.
var New = policyutil.Factory[InterPodAntiAffinity]("InterPodAntiAffinity")
