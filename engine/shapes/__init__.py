"""Keep Shapes: where a render's shapes are (object, depth and normal edges from its passes), and holding them in
fast results."""
