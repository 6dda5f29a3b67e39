"""Caption evaluation: photocap's own BLEU and CIDEr-D (`scores`), the pycocoevalcap bridge
(`coco`), object hallucination (`hallucination`, CHAIR), the one reader of caption CSVs shared with
training (`captions_csv`), and the evaluation run (`run`)."""
