package fabric_test

import "net"

func netParse(s string) (net.IP, *net.IPNet, error) { return net.ParseCIDR(s) }
func parseMAC(s string) (net.HardwareAddr, error)   { return net.ParseMAC(s) }
func ip(s string) net.IP                            { return net.ParseIP(s).To4() }
