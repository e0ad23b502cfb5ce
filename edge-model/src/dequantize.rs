//! Int8 weights back to fp32, once, at load.
//!
//! The bundles store large weights as int8 behind `DequantizeLinear`. tract keeps that op in the
//! graph and would dequantise every weight on every call (MiniLM natively: 41 ms a tweet instead of
//! 7.7 ms), so each `DequantizeLinear` whose inputs are all initializers is replaced by its fp32
//! result, computed exactly as the ONNX operator defines it: `(x - zero_point) * scale`.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{ModelProto, NodeProto, TensorProto};

/// Fold every constant `DequantizeLinear` of int8 data into an fp32 initializer; returns how many.
pub(crate) fn fold_constant_dequantize(model: &mut ModelProto) -> usize {
    let Some(graph) = model.graph.as_mut() else {
        return 0;
    };
    let index: HashMap<&str, usize> = graph
        .initializer
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let mut folded = Vec::new();
    let mut consumed = HashSet::new();
    let mut kept = Vec::with_capacity(graph.node.len());
    for node in &graph.node {
        let inputs: Option<Vec<&TensorProto>> = node
            .input
            .iter()
            .map(|name| index.get(name.as_str()).map(|&i| &graph.initializer[i]))
            .collect();
        match inputs.as_deref() {
            Some([x, scale]) if node.op_type == "DequantizeLinear" => {
                match dequantize(node, x, scale) {
                    Some(tensor) => {
                        consumed.extend(node.input.iter().cloned());
                        folded.push(tensor);
                    }
                    None => kept.push(node.clone()),
                }
            }
            _ => kept.push(node.clone()),
        }
    }
    let count = folded.len();
    let still_used: HashSet<String> = kept.iter().flat_map(|n| n.input.iter().cloned()).collect();
    graph.node = kept;
    graph
        .initializer
        .retain(|t| !consumed.contains(&t.name) || still_used.contains(&t.name));
    graph.initializer.extend(folded);
    count
}

/// The fp32 tensor, or `None` for a layout this does not handle (left to tract as it is).
fn dequantize(node: &NodeProto, x: &TensorProto, scale: &TensorProto) -> Option<TensorProto> {
    if x.data_type != DataType::Int8 as i32
        || scale.data_type != DataType::Float as i32
        || x.raw_data.is_empty()
    {
        return None;
    }
    let scales: Vec<f32> = if scale.raw_data.is_empty() {
        scale.float_data.clone()
    } else {
        scale
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    let dims: Vec<usize> = x
        .dims
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<_>>()?;
    let rank = i64::try_from(dims.len()).ok()?;
    let axis = node
        .attribute
        .iter()
        .find(|a| a.name == "axis")
        .map_or(1, |a| a.i);
    let axis = usize::try_from(if axis < 0 { axis + rank } else { axis }).ok()?;
    let channel_of: Box<dyn Fn(usize) -> usize> = if scales.len() == 1 {
        Box::new(|_| 0)
    } else {
        let channels = *dims.get(axis)?;
        if scales.len() != channels {
            return None;
        }
        let inner: usize = dims[axis + 1..].iter().product();
        Box::new(move |k| (k / inner) % channels)
    };
    let raw_data = x
        .raw_data
        .iter()
        .enumerate()
        .flat_map(|(k, &q)| (f32::from(q as i8) * scales[channel_of(k)]).to_le_bytes())
        .collect();
    Some(TensorProto {
        name: node.output.first()?.clone(),
        dims: x.dims.clone(),
        data_type: DataType::Float as i32,
        raw_data,
        ..Default::default()
    })
}
