import IPMI
enum IPMIHardwarePlaceholder {}
