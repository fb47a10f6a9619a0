// Custom elements at work:
//   vforward run --elements configs/examples/custom/my_elements.py \
//       configs/examples/custom/mirror.click IN=vforward/data/sample.pcap OUT=/tmp/mirrored.pcap
define($IN vforward/data/sample.pcap, $OUT mirrored.pcap)

FromDump($IN, STOP true)
  -> sizes :: SizeHistogram(128)
  -> EtherMirror
  -> ToDump($OUT);
